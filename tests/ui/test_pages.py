"""Dashboard, metrics page and schedule preview: scoped JSON for the pages' scripts."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from metrics.models import MetricAggregate, PeriodType
from runs.models import RunStatus
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db


def test_the_dashboard_json_is_scoped_to_the_viewer(owner_client, owner, outsider):
    mine = JobFactory(
        name="mine", created_by=owner, next_run_at=timezone.now() + timedelta(hours=1)
    )
    JobFactory(name="theirs", created_by=outsider, next_run_at=timezone.now() + timedelta(hours=1))
    RunFactory(job=mine, status=RunStatus.SUCCESS)
    RunFactory(job__created_by=outsider, status=RunStatus.FAILURE)
    data = owner_client.get("/admin/dashboard.json").json()
    assert [run["job"] for run in data["recent"]] == ["mine"]
    assert [job["name"] for job in data["upcoming"]] == ["mine"]
    assert set(data["stats"]) == {
        "activeJobs",
        "runningNow",
        "successRate",
        "totalFailures",
        "averageDuration",
        "uptime",
    }
    assert data["stats"]["activeJobs"] == 1


def test_the_dashboard_page_embeds_the_same_data(admin_client):
    RunFactory(job__name="visible-run")
    response = admin_client.get("/admin/")
    assert response.context["dashboard"]["recent"][0]["job"] == "visible-run"
    assert b'id="tf-dashboard-data"' in response.content


def test_the_dashboard_json_needs_a_login(client):
    assert client.get("/admin/dashboard.json").status_code == 302


@time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), tick=False)
def test_the_preview_lists_the_next_five_fire_times(owner_client):
    response = owner_client.post(
        "/admin/schedule-preview/",
        json.dumps({"hours": [9], "minutes": [30], "timezone": "Europe/Paris"}),
        content_type="application/json",
    )
    body = response.json()
    assert response.status_code == 200
    assert body["timezone"] == "Europe/Paris"
    # 09:30 in Paris (UTC+1 in March before DST) is 08:30 UTC; today's has passed
    assert body["times"][0].startswith("2026-03-03T08:30")
    assert len(body["times"]) == 5


def test_the_preview_returns_field_errors(owner_client):
    response = owner_client.post(
        "/admin/schedule-preview/",
        json.dumps({"months": [2], "days": [30], "timezone": "UTC"}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["errors"]


def test_the_preview_refuses_an_unknown_zone(owner_client):
    response = owner_client.post(
        "/admin/schedule-preview/",
        json.dumps({"timezone": "Nowhere/Land"}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "timezone" in response.json()["errors"]


def _rollup(job, hours_ago, runs, ok, cpu):
    start = (timezone.now() - timedelta(hours=hours_ago)).replace(minute=0, second=0, microsecond=0)
    MetricAggregate.objects.create(
        job=job,
        period_type=PeriodType.HOURLY,
        period_start=start,
        run_count=runs,
        success_count=ok,
        failure_count=runs - ok,
        avg_duration_ms=1000,
        max_duration_ms=2000,
        avg_cpu_percent=cpu,
        max_cpu_percent=cpu * 2,
        avg_memory_bytes=1 << 20,
        max_memory_bytes=2 << 20,
    )


def test_the_metrics_page_sums_only_the_users_jobs(owner_client, owner, outsider):
    mine = JobFactory(created_by=owner)
    theirs = JobFactory(created_by=outsider)
    _rollup(mine, 3, runs=4, ok=3, cpu=10.0)
    _rollup(theirs, 3, runs=100, ok=0, cpu=90.0)
    series = owner_client.get("/admin/metrics/?range=7").context["series"]
    assert series["summary"] == {"runs": 4, "success": 3, "failure": 1, "successRate": 0.75}
    assert series["cpuAvg"] == [10.0]


def test_the_metrics_page_weights_averages_by_runs(admin_client, owner, outsider):
    _rollup(JobFactory(created_by=owner), 2, runs=1, ok=1, cpu=10.0)
    _rollup(JobFactory(created_by=outsider), 2, runs=3, ok=3, cpu=50.0)
    series = admin_client.get("/admin/metrics/").context["series"]
    assert series["runs"] == [4]
    assert series["cpuAvg"] == [40.0]


def test_the_metrics_page_answers_404_for_another_users_job(owner_client, outsider):
    job = JobFactory(created_by=outsider)
    assert owner_client.get(f"/admin/metrics/?job={job.pk}").status_code == 404
    assert owner_client.get("/admin/metrics/?job=not-a-uuid").status_code == 404


def test_the_metrics_page_uses_daily_rollups_beyond_a_week(owner_client, owner):
    job = JobFactory(created_by=owner)
    _rollup(job, 3, runs=4, ok=4, cpu=1.0)
    response = owner_client.get(f"/admin/metrics/?job={job.pk}&range=30")
    assert response.context["series"]["period"] == PeriodType.DAILY
    assert response.context["series"]["runs"] == []  # hourly rows are not read for 30 days


def test_the_preview_refuses_a_body_that_is_not_an_object(owner_client):
    response = owner_client.post(
        "/admin/schedule-preview/", "[1, 2]", content_type="application/json"
    )
    assert response.status_code == 400
    assert owner_client.get("/admin/schedule-preview/").status_code == 405
