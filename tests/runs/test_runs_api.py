"""Runs API: list with filters and paging, get, cancel (idempotent), re-run, logs paged by
line number, plain-text download."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs import wire
from runs.models import Run, RunStatus, TriggerType
from runs.services import run_log_lines
from tests.factories import RunFactory
from tests.support.clients import add_log_lines

pytestmark = pytest.mark.django_db


def test_the_run_list_has_runs_total_and_paging(owner_api, owner_run):
    response = owner_api.get("/api/runs")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["total"] == 1 and data["limit"] == 50 and data["offset"] == 0
    assert data["totalExact"] is True
    run = data["runs"][0]
    assert run["id"] == str(owner_run.id)
    assert run["jobId"] == str(owner_run.job_id)
    assert run["status"] == "success"
    assert run["exitCode"] == 0
    assert run["duration"] == 1200
    assert run["triggerType"] == "manual"


def test_the_run_list_filters_by_job_status_trigger_and_time(owner_api, owner_job, outsider_job):
    old = RunFactory(job=owner_job, status=RunStatus.FAILURE)
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    RunFactory(job=owner_job, status=RunStatus.SUCCESS, trigger_type=TriggerType.SCHEDULED)
    RunFactory(job=owner_job, status=RunStatus.TIMEOUT)

    def total(query):
        response = owner_api.get(f"/api/runs?{query}")
        assert response.status_code == 200, response.json()
        return response.json()["data"]["total"]

    assert total("") == 3
    assert total(f"job={owner_job.id}") == 3
    assert total(f"job={outsider_job.id}") == 0  # not theirs: nothing, not an error
    assert total("status=failure,timeout") == 2
    assert total("trigger_type=scheduled") == 1
    since = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert total(f"from={since}") == 2
    assert total(f"to={since}") == 1


def test_bad_run_filters_are_validation_errors(owner_api):
    for query in ("status=bogus", "trigger_type=x", "from=yesterday", "job=1", "limit=501"):
        response = owner_api.get(f"/api/runs?{query}")
        assert response.status_code == 400, query
        assert response.json()["code"] == "VALIDATION_ERROR"


def test_runs_page_newest_first(owner_api, owner_job):
    runs = [RunFactory(job=owner_job) for _ in range(5)]
    page = owner_api.get("/api/runs?limit=2&offset=1").json()["data"]
    assert page["total"] == 5
    assert [run["id"] for run in page["runs"]] == [str(runs[3].id), str(runs[2].id)]


def test_get_a_run(owner_api, owner_run):
    response = owner_api.get(f"/api/runs/{owner_run.id}")
    assert response.status_code == 200
    assert response.json()["data"]["jobName"] == "owner-job"


def test_cancel_is_idempotent(owner_api, owner_job):
    run = RunFactory(job=owner_job)
    first = owner_api.post(f"/api/runs/{run.id}/cancel")
    again = owner_api.post(f"/api/runs/{run.id}/cancel")
    assert first.status_code == again.status_code == 200
    assert first.json()["data"]["status"] == again.json()["data"]["status"] == "cancelled"


def test_cancelling_a_finished_run_changes_nothing(owner_api, owner_run):
    response = owner_api.post(f"/api/runs/{owner_run.id}/cancel")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "success"


def test_rerun_queues_a_new_manual_run(owner_api, owner_run):
    response = owner_api.post(f"/api/runs/{owner_run.id}/rerun")
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["id"] != str(owner_run.id)
    assert data["jobId"] == str(owner_run.job_id)
    assert data["triggerType"] == "manual"


def test_logs_are_paged_by_line_number(owner_api, owner_run):
    response = owner_api.get(f"/api/runs/{owner_run.id}/logs?limit=2")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [line["lineNumber"] for line in data["lines"]] == [1, 2]
    assert list(data["lines"][0]) == ["lineNumber", "stream", "timestamp", "content"]
    assert data["lines"][0]["content"] == "line one"
    assert data["lines"][0]["stream"] == "stdout"
    assert data["hasMore"] is True and data["nextAfter"] == 2
    rest = owner_api.get(f"/api/runs/{owner_run.id}/logs?after=2").json()["data"]
    assert [line["content"] for line in rest["lines"]] == ["line three"]
    assert rest["hasMore"] is False and rest["nextAfter"] == 3
    empty = owner_api.get(f"/api/runs/{owner_run.id}/logs?after=3").json()["data"]
    assert empty["lines"] == [] and empty["nextAfter"] == 3


def test_a_log_line_is_the_streams_log_line(owner_api, owner_run):
    """One shape: the API's line has the fields and values of runs.wire.log_line (the
    WebSocket's), in the order this endpoint always listed them."""
    lines = run_log_lines(run=owner_run, after=0, limit=3)
    data = owner_api.get(f"/api/runs/{owner_run.id}/logs").json()["data"]
    assert data["lines"] == [wire.log_line(line) for line in lines]
    assert data["lines"][0]["timestamp"].endswith("Z")
    message = wire.log_message(owner_run.id, lines[0])
    assert {k: v for k, v in message.items() if k not in ("type", "runId")} == data["lines"][0]


def test_log_paging_spans_chunks(owner_api, owner_run):
    add_log_lines(owner_run, [f"more {index}" for index in range(10)], stream="stderr")
    data = owner_api.get(f"/api/runs/{owner_run.id}/logs?after=1&limit=5").json()["data"]
    assert [line["lineNumber"] for line in data["lines"]] == [2, 3, 4, 5, 6]
    assert data["lines"][-1]["stream"] == "stderr"


def test_bad_log_paging_is_a_validation_error(owner_api, owner_run):
    assert owner_api.get(f"/api/runs/{owner_run.id}/logs?after=-1").status_code == 400
    assert owner_api.get(f"/api/runs/{owner_run.id}/logs?limit=x").status_code == 400


def test_the_log_downloads_as_text(owner_api, owner_run):
    response = owner_api.get(f"/api/runs/{owner_run.id}/logs/download")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"] == f'attachment; filename="run-{owner_run.id}.log"'
    text = b"".join(response.streaming_content).decode()
    assert [line.split(" ", 2)[2] for line in text.splitlines()] == [
        "line one",
        "line two",
        "line three",
    ]


def test_download_works_with_an_accept_text_plain_header(owner_api, owner_run):
    response = owner_api.get(f"/api/runs/{owner_run.id}/logs/download", HTTP_ACCEPT="text/plain")
    assert response.status_code == 200


def test_the_fast_run_output_equals_the_declared_fields(owner_run, admin_user):
    from rest_framework import serializers

    from runs.serializers import RunOutput

    owner_run.triggered_by = admin_user
    owner_run.save(update_fields=["triggered_by"])
    owner_run = Run.objects.select_related("job", "triggered_by").get(pk=owner_run.pk)
    output = RunOutput(owner_run)
    assert output.data == serializers.Serializer.to_representation(output, owner_run)


def test_the_total_is_exact_up_to_a_cap(owner_api, owner_job, monkeypatch):
    from runs import api

    for _ in range(3):
        RunFactory(job=owner_job)
    assert owner_api.get("/api/runs").json()["data"]["totalExact"] is True
    monkeypatch.setattr(api, "TOTAL_CAP", 2)
    data = owner_api.get("/api/runs").json()["data"]
    assert (data["total"], data["totalExact"]) == (2, False)
    assert len(data["runs"]) == 3
