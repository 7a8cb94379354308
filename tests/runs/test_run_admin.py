"""The run list and run page: scoped, filtered, cheap to page, read-only, with the viewer's data
(the run as the API returns it; lines and samples from the API with the session cookie)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from metrics.models import MetricSample
from runs.logformat import encode_lines
from runs.models import LogChunk, RunStatus
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db


def listed(response) -> list:
    return list(response.context["cl"].result_list)


def test_it_lists_only_runs_of_the_users_jobs(owner_client, owner, outsider):
    mine = RunFactory(job__created_by=owner)
    RunFactory(job__created_by=outsider)
    assert listed(owner_client.get("/admin/runs/run/")) == [mine]


def test_it_answers_404_for_another_users_run_and_its_endpoints(owner_client, outsider):
    run = RunFactory(job__created_by=outsider)
    assert owner_client.get(f"/admin/runs/run/{run.pk}/change/").status_code == 404
    # what the viewer reads, with the same session cookie
    for suffix in ("", "/logs", "/metrics", "/logs/download"):
        assert owner_client.get(f"/api/runs/{run.pk}{suffix}").status_code == 404


def test_it_filters_runs_that_failed_in_the_last_24_hours(admin_client):
    now = timezone.now()
    recent = RunFactory(status=RunStatus.FAILURE, finished_at=now - timedelta(hours=2))
    RunFactory(status=RunStatus.FAILURE, finished_at=now - timedelta(days=3))
    RunFactory(status=RunStatus.SUCCESS, finished_at=now - timedelta(hours=1))
    timed_out = RunFactory(status=RunStatus.TIMEOUT, finished_at=now - timedelta(hours=5))
    rows = listed(admin_client.get("/admin/runs/run/?failed_within=24h"))
    assert set(rows) == {recent, timed_out}


def test_the_job_filter_offers_only_the_users_jobs(owner_client, owner, outsider):
    JobFactory(name="mine", created_by=owner)
    JobFactory(name="secret-of-outsider", created_by=outsider)
    response = owner_client.get("/admin/runs/run/")
    assert b"mine" in response.content
    assert b"secret-of-outsider" not in response.content


def test_it_pages_runs_without_counting_them(admin_client):
    RunFactory.create_batch(3)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/runs/run/")
    assert response.status_code == 200
    assert len(listed(response)) == 3
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert not [sql for sql in counts if "runs_run" in sql], counts


def test_it_pages_newest_first_knowing_only_whether_a_next_page_exists(admin_client):
    runs = RunFactory.create_batch(55)
    newest_first = sorted(runs, key=lambda run: run.created_at, reverse=True)

    first = admin_client.get("/admin/runs/run/")
    second = admin_client.get("/admin/runs/run/?p=2")

    assert listed(first) == newest_first[:50]
    assert "1\N{EN DASH}50 of more runs" in first.content.decode()
    assert "50+ results" in first.content.decode()
    assert b"?p=2" in first.content
    assert listed(second) == newest_first[50:]
    assert "55 runs" in second.content.decode()
    assert b"?all=" not in first.content  # "show all" would read every run
    assert admin_client.get("/admin/runs/run/?p=9").status_code == 302  # past the end: ?e=1


def test_it_never_lets_anyone_edit_a_run(admin_client):
    run = RunFactory()
    response = admin_client.post(f"/admin/runs/run/{run.pk}/change/", {"status": "success"})
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING


def test_the_run_page_carries_the_live_viewer(owner_client, owner):
    run = RunFactory(job__created_by=owner, status=RunStatus.RUNNING, log_lines=120_000)
    response = owner_client.get(f"/admin/runs/run/{run.pk}/change/")
    viewer = response.context["viewer"]
    assert viewer["wsPath"] == f"/api/runs/{run.pk}/logs/live"
    assert viewer["run"]["logLines"] == 120_000 and viewer["canRun"] is True
    assert b"data-tf-viewer" in response.content
    assert b"Cancel run" in response.content


def test_the_viewer_starts_from_what_the_api_returns(owner_client, owner):
    run = RunFactory(job__created_by=owner, status=RunStatus.RUNNING, log_lines=7)
    viewer = owner_client.get(f"/admin/runs/run/{run.pk}/change/").context["viewer"]
    assert viewer["run"] == owner_client.get(f"/api/runs/{run.pk}").json()["data"]
    assert viewer["runUrl"] == f"/api/runs/{run.pk}"
    assert viewer["logsUrl"] == f"/api/runs/{run.pk}/logs"
    assert viewer["metricsUrl"] == f"/api/runs/{run.pk}/metrics"
    assert viewer["downloadUrl"] == f"/api/runs/{run.pk}/logs/download"


def test_the_viewer_pages_lines_by_line_number_through_the_api(owner_client, owner):
    run = RunFactory(job__created_by=owner)
    texts = [("stdout", 0, f"line {n}") for n in range(1, 11)]
    LogChunk.objects.create(
        run=run, first_line=1, last_line=10, created_at=run.created_at, data=encode_lines(texts)
    )
    response = owner_client.get(f"/api/runs/{run.pk}/logs?after=3&limit=4")  # session cookie
    body = response.json()["data"]
    assert [line["lineNumber"] for line in body["lines"]] == [4, 5, 6, 7]
    assert body["lines"][0]["content"] == "line 4" and body["lines"][0]["stream"] == "stdout"
    assert body["hasMore"] is True and body["runStatus"] == run.status


def test_the_viewer_reads_rounded_samples_through_the_api(owner_client, owner):
    run = RunFactory(job__created_by=owner, status=RunStatus.RUNNING)
    MetricSample.objects.create(
        run=run,
        timestamp=timezone.now(),
        cpu_percent=12.3456,
        memory_bytes=1 << 20,
        memory_percent=1.23456,
    )
    sample = owner_client.get(f"/api/runs/{run.pk}/metrics").json()["data"]["samples"][0]
    assert sample["cpuPercent"] == 12.35 and sample["memoryPercent"] == 1.23
    assert sample["timestamp"].endswith("Z")


def test_it_offers_no_add_form_for_runs(admin_client):
    assert admin_client.get("/admin/runs/run/add/").status_code == 403


def test_it_never_computes_facet_counts_on_the_run_list(admin_client):
    RunFactory.create_batch(2)
    with CaptureQueriesContext(connection) as queries:
        admin_client.get("/admin/runs/run/?_facets=True")
    unbounded = [
        q["sql"]
        for q in queries.captured_queries
        if "COUNT(" in q["sql"].upper() and "LIMIT" not in q["sql"].upper()
    ]
    assert unbounded == []
