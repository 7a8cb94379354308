"""LocalFlow parity: tasks take max_attempts, backoff and priority with a job's retry meaning;
GET /api/schedules lists schedules only; with --debug, /debug/pprof/ leads to our profiling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from runs.models import Run, RunStatus, TriggerType
from tests.factories import JobFactory, ScheduleFactory
from tests.runs.helpers import execute

pytestmark = pytest.mark.django_db


def _task(api, **body):
    payload = {"type": "shell", "payload": {"command": "false"}, **body}
    return api.post("/api/tasks", payload, format="json")


def test_a_failing_task_is_tried_max_attempts_times_with_exponential_backoff(admin_api):
    response = _task(admin_api, max_attempts=3, backoff=True, retry_delay_seconds=30, priority=7)
    assert response.status_code == 201
    data = response.json()["data"]
    assert (data["max_attempts"], data["backoff"], data["retry_delay_seconds"]) == (3, True, 30)
    assert data["priority"] == 7 and data["attempts"] == 1

    first = execute(Run.objects.get(pk=data["id"]))
    assert first.status == RunStatus.FAILURE
    second = Run.objects.get(parent=first)
    assert second.trigger_type == TriggerType.RETRY and second.priority == 7
    assert second.available_at >= first.finished_at + timedelta(seconds=29)
    shown = admin_api.get(f"/api/tasks/{first.pk}").json()["data"]
    assert (shown["status"], shown["attempts"]) == ("queued", 2)  # the task, retrying

    second = execute(second)
    third = Run.objects.get(parent=first, attempt=3)
    assert third.available_at >= second.finished_at + timedelta(seconds=59)  # 30 x 2
    execute(third)

    assert Run.objects.filter(parent=first).count() == 2  # three attempts in all
    shown = admin_api.get(f"/api/tasks/{first.pk}").json()["data"]
    assert (shown["status"], shown["attempts"], shown["max_attempts"]) == ("failed", 3, 3)


def test_without_backoff_the_delay_stays_the_same(admin_api):
    task = _task(admin_api, max_attempts=2, backoff=False, retry_delay_seconds=0).json()["data"]
    run = Run.objects.get(pk=task["id"])
    assert run.spec["retry"]["backoff"] is False and run.spec["retry"]["count"] == 1
    execute(run)
    assert Run.objects.get(parent=run).status == RunStatus.PENDING


def test_the_default_is_one_attempt_and_bad_retry_values_are_field_errors(admin_api):
    data = _task(admin_api).json()["data"]
    assert data["max_attempts"] == 1 and Run.objects.get(pk=data["id"]).spec["retry"]["count"] == 0
    for field, value in [
        ("max_attempts", 0),
        ("max_attempts", 102),
        ("backoff", "sometimes"),
        ("retry_delay_seconds", -1),
        ("priority", 1001),
    ]:
        response = _task(admin_api, **{field: value})
        assert response.status_code == 400 and field in response.json()["details"], field


def test_unknown_task_fields_are_refused_naming_them(admin_api):
    response = _task(admin_api, maxAttempts=3)
    assert response.status_code == 400
    assert response.json()["details"] == {"maxAttempts": ["Unknown field."]}
    response = _task(admin_api, payload={"command": "true", "env": {"A": "1"}})
    assert response.json()["details"] == {"payload": {"env": ["Unknown field."]}}
    assert not Run.objects.exists()


def test_schedules_list_only_jobs_with_a_schedule(admin_api, admin_user):
    scheduled = JobFactory(name="b-scheduled", created_by=admin_user)
    ScheduleFactory(job=scheduled, cron_expr="*/5 * * * *")
    manual = JobFactory(name="a-manual", created_by=admin_user)

    listed = admin_api.get("/api/schedules").json()["data"]

    assert [item["id"] for item in listed["schedules"]] == [str(scheduled.pk)]
    assert listed["total"] == 1
    assert admin_api.get(f"/api/schedules/{manual.pk}").status_code == 404
    assert admin_api.delete(f"/api/schedules/{manual.pk}").status_code == 404
    assert admin_api.get(f"/api/schedules/{scheduled.pk}").status_code == 200


@override_settings(DEBUG=True)
def test_pprof_leads_an_admin_to_the_profiling_index_in_debug_mode(client, admin_user):
    client.force_login(admin_user)
    for address in ("/debug/pprof/", "/debug/pprof/heap"):
        response = client.get(address)
        assert response.status_code == 302 and response["Location"] == "/debug/"
    index = client.get("/debug/")
    assert index.status_code == 200 and index["Content-Type"].startswith("text/plain")
    text = index.content.decode()
    assert "/debug/stacks" in text and "?profile=1" in text and "kill -USR1" in text


@override_settings(DEBUG=True)
def test_pprof_is_hidden_from_non_admins(client, owner):
    assert client.get("/debug/pprof/").status_code == 404
    client.force_login(owner)
    assert client.get("/debug/pprof/").status_code == 404
    assert client.get("/debug/").status_code == 404


def test_pprof_is_not_there_without_debug_mode(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/debug/pprof/").status_code == 404
    assert client.get("/debug/").status_code == 404
