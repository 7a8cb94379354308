"""Dashboard, metrics page and schedule preview: the API the pages' scripts call with the
session cookie, scoped to the viewer, and first paints that embed what that API returns."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from metrics.models import MetricAggregate, PeriodType
from runs.models import RunStatus
from tests.factories import JobFactory, RunFactory
from tests.support.clients import CSRF_SECRET

pytestmark = pytest.mark.django_db

DASHBOARD_APIS = ("/api/dashboard/stats", "/api/runs?limit=12", "/api/dashboard/upcoming?limit=10")


def test_the_dashboard_data_is_scoped_to_the_viewer(owner_client, owner, outsider):
    mine = JobFactory(
        name="mine", created_by=owner, next_run_at=timezone.now() + timedelta(hours=1)
    )
    JobFactory(name="theirs", created_by=outsider, next_run_at=timezone.now() + timedelta(hours=1))
    RunFactory(job=mine, status=RunStatus.SUCCESS)
    RunFactory(job__created_by=outsider, status=RunStatus.FAILURE)
    stats, runs, upcoming = (owner_client.get(url).json()["data"] for url in DASHBOARD_APIS)
    assert [run["jobName"] for run in runs["runs"]] == ["mine"]
    assert [job["name"] for job in upcoming["jobs"]] == ["mine"]
    assert set(stats) == {
        "activeJobs",
        "runningNow",
        "successRate",
        "totalFailures",
        "averageDuration",
        "uptime",
    }
    assert stats["activeJobs"] == 1


def test_upcoming_lists_enabled_jobs_soonest_first(owner_client, owner):
    now = timezone.now()
    JobFactory(name="later", created_by=owner, next_run_at=now + timedelta(hours=2))
    JobFactory(name="sooner", created_by=owner, next_run_at=now + timedelta(minutes=5))
    JobFactory(name="off", created_by=owner, enabled=False, next_run_at=now)
    JobFactory(name="manual", created_by=owner, next_run_at=None)
    jobs = owner_client.get("/api/dashboard/upcoming").json()["data"]["jobs"]
    assert [job["name"] for job in jobs] == ["sooner", "later"]
    assert owner_client.get("/api/dashboard/upcoming?limit=1").json()["data"]["jobs"][0]["id"]
    assert owner_client.get("/api/dashboard/upcoming?limit=0").status_code == 400


def test_the_home_page_embeds_what_the_api_returns(admin_client):
    RunFactory(job__name="visible-run")
    JobFactory(name="next-up", next_run_at=timezone.now() + timedelta(hours=1))
    response = admin_client.get("/admin/")
    embedded, urls = response.context["home"], response.context["home_urls"]
    assert embedded["activity"]["timeline"][0]["jobName"] == "visible-run"
    assert embedded["stats"] == admin_client.get(urls["stats"]).json()["data"]
    fresh = admin_client.get(urls["activity"]).json()["data"]
    for key in ("active", "upcoming", "timeline", "failures"):
        assert embedded["activity"][key] == fresh[key]
    assert b'id="tf-home-data"' in response.content


def test_the_dashboard_and_its_data_need_a_login(client):
    assert client.get("/admin/").status_code == 302
    for url in DASHBOARD_APIS:
        assert client.get(url).status_code == 401


@pytest.fixture
def session_api(owner):
    """The job editor's script: the session cookie, and the CSRF token on a POST."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    client.cookies["csrftoken"] = CSRF_SECRET
    return client


def preview(client, body, **extra):
    return client.post("/api/jobs/preview", body, format="json", **extra)


@time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), tick=False)
def test_the_preview_lists_the_next_five_fire_times(session_api):
    body = {"schedule": {"hours": [9], "minutes": [30]}, "timezone": "Europe/Paris"}
    response = preview(session_api, body, HTTP_X_CSRFTOKEN=CSRF_SECRET)
    data = response.json()["data"]
    assert response.status_code == 200
    assert data["timezone"] == "Europe/Paris"
    # 09:30 in Paris (UTC+1 in March before DST) is 08:30 UTC; today's has passed
    assert data["nextRuns"][0].startswith("2026-03-03T08:30")
    assert len(data["nextRuns"]) == 5


def test_the_preview_needs_the_csrf_token_with_a_session(session_api):
    response = preview(session_api, {"schedule": {"minutes": [0]}})
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]


def test_the_preview_takes_the_grid_as_the_editor_sends_it(session_api):
    """Empty lists (= any) and a blank cron expression, as the script posts an untouched grid."""
    grid = {key: [] for key in ("years", "months", "days", "weekdays", "hours", "minutes")}
    body = {"schedule": {**grid, "cron_expr": ""}, "timezone": "UTC"}
    response = preview(session_api, body, HTTP_X_CSRFTOKEN=CSRF_SECRET)
    assert response.status_code == 200
    assert len(response.json()["data"]["nextRuns"]) == 5


def test_the_preview_returns_field_errors(session_api):
    body = {"schedule": {"months": [2], "days": [30]}, "timezone": "UTC"}
    response = preview(session_api, body, HTTP_X_CSRFTOKEN=CSRF_SECRET)
    assert response.status_code == 400
    assert response.json()["details"]["schedule"]


def test_the_preview_refuses_an_unknown_zone(session_api):
    body = {"schedule": {}, "timezone": "Nowhere/Land"}
    response = preview(session_api, body, HTTP_X_CSRFTOKEN=CSRF_SECRET)
    assert response.status_code == 400
    assert "timezone" in response.json()["details"]


def test_the_preview_refuses_a_body_that_is_not_an_object(session_api):
    response = preview(session_api, [1, 2], HTTP_X_CSRFTOKEN=CSRF_SECRET)
    assert response.status_code == 400
    assert session_api.get("/api/jobs/preview").status_code == 405


def test_the_job_editor_previews_through_the_api(admin_client):
    response = admin_client.get("/admin/jobs/job/add/")
    assert b'data-preview-url="/api/jobs/preview"' in response.content


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
    history = owner_client.get("/admin/metrics/?range=7").context["history"]
    summary = history["summary"]
    assert (summary["runCount"], summary["successCount"], summary["failureCount"]) == (4, 3, 1)
    assert summary["successRate"] == 0.75
    assert [point["avgCpuPercent"] for point in history["points"]] == [10.0]
    assert history == owner_client.get("/api/metrics?range=7d").json()["data"]


def test_the_metrics_page_weights_averages_by_runs(admin_client, owner, outsider):
    _rollup(JobFactory(created_by=owner), 2, runs=1, ok=1, cpu=10.0)
    _rollup(JobFactory(created_by=outsider), 2, runs=3, ok=3, cpu=50.0)
    points = admin_client.get("/admin/metrics/").context["history"]["points"]
    assert [point["runCount"] for point in points] == [4]
    assert [point["avgCpuPercent"] for point in points] == [40.0]


def test_the_metrics_page_of_a_job_is_the_jobs_api_history(owner_client, owner):
    job = JobFactory(created_by=owner)
    _rollup(job, 30, runs=2, ok=1, cpu=5.0)
    history = owner_client.get(f"/admin/metrics/?job={job.pk}&range=7").context["history"]
    assert history["points"][0]["runCount"] == 2
    assert history == owner_client.get(f"/api/jobs/{job.pk}/metrics?range=7d").json()["data"]


@time_machine.travel(datetime(2026, 3, 10, 12, 30, tzinfo=UTC), tick=False)
def test_the_metrics_page_includes_the_current_hour_and_day(owner_client, owner):
    job = JobFactory(created_by=owner)
    now = timezone.now()
    RunFactory(job=job, status=RunStatus.SUCCESS, started_at=now, finished_at=now, duration_ms=10)
    for url in ("/admin/metrics/?range=7", f"/admin/metrics/?job={job.pk}&range=7"):
        points = owner_client.get(url).context["history"]["points"]
        assert [(p["periodStart"], p["runCount"]) for p in points] == [("2026-03-10T12:00:00Z", 1)]
    points = owner_client.get("/admin/metrics/?range=30").context["history"]["points"]
    assert [(p["periodStart"], p["runCount"]) for p in points] == [("2026-03-10T00:00:00Z", 1)]


def test_the_metrics_page_answers_404_for_another_users_job(owner_client, outsider):
    job = JobFactory(created_by=outsider)
    assert owner_client.get(f"/admin/metrics/?job={job.pk}").status_code == 404
    assert owner_client.get("/admin/metrics/?job=not-a-uuid").status_code == 404


def test_the_metrics_page_uses_daily_rollups_beyond_a_week(owner_client, owner):
    job = JobFactory(created_by=owner)
    _rollup(job, 3, runs=4, ok=4, cpu=1.0)
    response = owner_client.get(f"/admin/metrics/?job={job.pk}&range=30")
    assert response.context["history"]["granularity"] == PeriodType.DAILY
    assert response.context["history"]["points"] == []  # hourly rows are not read for 30 days
