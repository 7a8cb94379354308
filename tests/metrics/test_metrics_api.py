"""Metrics endpoints: job trends by range (one job or all a user sees), one run's samples in the
stream's shape, the dashboard keys of docs/api.md."""

import pytest
from django.utils import timezone

from metrics.models import MetricSample
from metrics.services import samples_after
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db


def test_dashboard_stats_have_the_documented_keys_and_types(owner_api, owner_run):
    response = owner_api.get("/api/dashboard/stats")
    assert response.status_code == 200
    data = response.json()["data"]
    assert list(data) == [
        "activeJobs",
        "runningNow",
        "successRate",
        "totalFailures",
        "averageDuration",
        "uptime",
    ]
    assert isinstance(data["activeJobs"], int)
    assert isinstance(data["successRate"], float) and 0 <= data["successRate"] <= 1
    assert data["successRate"] == 1.0
    assert data["averageDuration"] == 1200


@pytest.mark.parametrize(("query", "days"), [("", 7), ("?range=7d", 7), ("?range=90d", 90)])
def test_job_metrics_take_a_range(owner_api, owner_run, query, days):
    response = owner_api.get(f"/api/jobs/{owner_run.job_id}/metrics{query}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["rangeDays"] == days
    assert data["summary"]["runCount"] == 1


def test_an_unknown_range_is_a_validation_error(owner_api, owner_job):
    response = owner_api.get(f"/api/jobs/{owner_job.id}/metrics?range=1y")
    assert response.status_code == 400
    assert "range" in response.json()["details"]


def test_run_metrics_list_samples_with_camel_case_keys(owner_api, owner_run):
    MetricSample.objects.create(
        run=owner_run,
        timestamp=timezone.now(),
        cpu_percent=78.5,
        memory_bytes=256_000_000,
        memory_percent=25.0,
    )
    data = owner_api.get(f"/api/runs/{owner_run.id}/metrics").json()["data"]
    assert data["runId"] == str(owner_run.id)
    sample = data["samples"][0]
    assert set(sample) == {"timestamp", "cpuPercent", "memoryBytes", "memoryPercent"}
    assert sample["cpuPercent"] == 78.5
    assert data["summary"]["sampleCount"] == 1


def test_all_jobs_metrics_cover_only_the_callers_jobs(owner_api, owner_run, outsider):
    now = timezone.now()
    RunFactory(job=JobFactory(created_by=outsider), status="failure", finished_at=now)
    data = owner_api.get("/api/metrics?range=30d").json()["data"]
    assert list(data) == ["rangeDays", "granularity", "summary", "points"]
    assert (data["rangeDays"], data["granularity"]) == (30, "daily")
    assert data["summary"]["runCount"] == 1 and data["summary"]["failureCount"] == 0
    job = owner_api.get(f"/api/jobs/{owner_run.job_id}/metrics?range=30d").json()["data"]
    assert data == {key: value for key, value in job.items() if key != "jobId"}


def test_a_run_sample_is_the_streams_metric_message(owner_api, owner_run):
    MetricSample.objects.create(
        run=owner_run,
        timestamp=timezone.now(),
        cpu_percent=33.333,
        memory_bytes=1_000,
        memory_percent=0.12345,
    )
    sample = owner_api.get(f"/api/runs/{owner_run.id}/metrics").json()["data"]["samples"][0]
    (message,), _ = samples_after(None, run_id=owner_run.id, after_id=0)
    assert list(message) == [
        "type",
        "runId",
        "timestamp",
        "cpuPercent",
        "memoryBytes",
        "memoryPercent",
    ]
    assert {k: v for k, v in message.items() if k not in ("type", "runId")} == sample
    assert (sample["cpuPercent"], sample["memoryPercent"]) == (33.33, 0.12)


def test_run_metrics_summary_keeps_its_keys_and_gains_cpu_seconds(owner_api, owner_run):
    owner_run.status = "success"
    owner_run.cpu_seconds = 2.9876543
    owner_run.cpu_percent_avg, owner_run.cpu_percent_max = 74.7, 98.0
    owner_run.save()

    summary = owner_api.get(f"/api/runs/{owner_run.id}/metrics").json()["data"]["summary"]

    assert set(summary) == {
        "sampleCount",
        "cpuPercentAvg",
        "cpuPercentMax",
        "memoryBytesAvg",
        "memoryBytesMax",
        "duration",
        "cpuSeconds",
    }
    assert summary["cpuSeconds"] == 2.988
    assert (summary["cpuPercentAvg"], summary["cpuPercentMax"]) == (74.7, 98.0)
