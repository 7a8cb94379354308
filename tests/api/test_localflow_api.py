"""LocalFlow's API on our models: POST/GET /api/tasks and /api/schedules CRUD (admin only)."""

import pytest

from jobs.models import Job, JobKind
from runs.models import Run, TriggerType

pytestmark = pytest.mark.django_db


def test_a_shell_task_runs_argv_without_a_shell(admin_api, admin_user):
    response = admin_api.post(
        "/api/tasks",
        {"type": "shell", "payload": {"command": "echo", "args": ["Hello, LocalFlow!; rm -rf /"]}},
        format="json",
    )
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["status"] == "queued" and data["type"] == "shell"
    run = Run.objects.get(pk=data["id"])
    assert run.job is None and run.trigger_type == TriggerType.API
    assert run.spec["kind"] == "command"
    assert run.spec["argv"] == ["echo", "Hello, LocalFlow!; rm -rf /"]
    assert run.triggered_by == admin_user


def test_an_http_task_keeps_method_url_headers_body_and_timeout(admin_api):
    response = admin_api.post(
        "/api/tasks",
        {
            "type": "http",
            "payload": {
                "url": "https://api.github.com",
                "method": "POST",
                "headers": {"X-Trace": "1"},
                "body": {"hello": "world"},
                "timeout": 10,
            },
            "priority": 5,
        },
        format="json",
    )
    assert response.status_code == 201
    run = Run.objects.get(pk=response.json()["data"]["id"])
    assert run.spec["kind"] == "http"
    assert run.spec["method"] == "POST" and run.spec["url"] == "https://api.github.com"
    assert run.spec["headers"] == {"X-Trace": "1"}
    assert run.spec["body"] == '{"hello": "world"}'
    assert run.spec["timeout_seconds"] == 10
    assert run.priority == 5


def test_the_same_idempotency_key_returns_the_same_task_id(admin_api):
    payload = {
        "type": "shell",
        "payload": {"command": "echo", "args": ["test"]},
        "idempotency_key": "unique-123",
    }
    first = admin_api.post("/api/tasks", payload, format="json")
    again = admin_api.post("/api/tasks", payload, format="json")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["data"]["id"] == again.json()["data"]["id"]
    assert again.json()["data"]["idempotency_key"] == "unique-123"
    assert Run.objects.count() == 1


def test_bad_task_payloads_are_field_errors(admin_api):
    cases = [
        {"type": "ftp", "payload": {}},
        {"type": "shell", "payload": {"args": ["x"]}},
        {"type": "shell", "payload": {"command": "echo", "args": "not-a-list"}},
        {"type": "http", "payload": {"url": "not a url"}},
        {"type": "http", "payload": {"url": "https://x.example", "method": "TRACE"}},
        {"type": "http", "payload": {"url": "https://x.example", "headers": {"a\nb": "c"}}},
        {"type": "shell", "payload": {"command": "echo"}, "priority": "high"},
    ]
    for body in cases:
        response = admin_api.post("/api/tasks", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["code"] == "VALIDATION_ERROR"


def test_task_status_reads_like_localflow(admin_api):
    task_id = admin_api.post(
        "/api/tasks", {"type": "shell", "payload": {"command": "true"}}, format="json"
    ).json()["data"]["id"]
    response = admin_api.get(f"/api/tasks/{task_id}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == task_id
    assert data["status"] == "queued" and data["runStatus"] == "pending"
    admin_api.post(f"/api/runs/{task_id}/cancel")
    assert admin_api.get(f"/api/tasks/{task_id}").json()["data"]["status"] == "cancelled"


def test_a_job_run_is_not_a_task(admin_api, owner_run):
    assert admin_api.get(f"/api/tasks/{owner_run.id}").status_code == 404


def test_schedules_crud_maps_onto_jobs_with_a_cron_expression(admin_api, admin_user):
    response = admin_api.post(
        "/api/schedules",
        {
            "name": "Health Check",
            "cron_expr": "*/5 * * * *",
            "task_type": "http",
            "payload": {"url": "http://localhost:8080/health", "method": "GET"},
            "enabled": True,
        },
        format="json",
    )
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["cron_expr"] == "*/5 * * * *" and data["task_type"] == "http"
    assert data["nextRun"] is not None
    job = Job.objects.get(pk=data["id"])
    assert job.kind == JobKind.HTTP and job.schedule.cron_expr == "*/5 * * * *"
    assert job.created_by == admin_user

    listed = admin_api.get("/api/schedules").json()["data"]
    assert [item["id"] for item in listed["schedules"]] == [data["id"]]
    assert admin_api.get(f"/api/schedules/{job.id}").json()["data"]["name"] == "Health Check"

    response = admin_api.put(
        f"/api/schedules/{job.id}",
        {
            "name": "Weekdays",
            "cron_expr": "0 9 * * MON-FRI",
            "task_type": "shell",
            "payload": {"command": "echo", "args": ["hi"]},
            "enabled": False,
        },
        format="json",
    )
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.kind == JobKind.COMMAND and job.command == ["echo", "hi"]
    assert job.enabled is False and response.json()["data"]["nextRun"] is None

    assert admin_api.delete(f"/api/schedules/{job.id}").status_code == 200
    assert not Job.objects.filter(pk=job.pk).exists()


def test_a_bad_cron_expression_is_a_field_error(admin_api):
    response = admin_api.post(
        "/api/schedules",
        {"name": "x", "cron_expr": "every day", "task_type": "shell", "payload": {"command": "a"}},
        format="json",
    )
    assert response.status_code == 400
    assert "cron_expr" in response.json()["details"]  # top-level, as LocalFlow names it


def test_the_idempotency_key_header_works_for_tasks_too(admin_api):
    payload = {"type": "shell", "payload": {"command": "true"}}
    first = admin_api.post("/api/tasks", payload, format="json", HTTP_IDEMPOTENCY_KEY="h-1")
    again = admin_api.post("/api/tasks", payload, format="json", HTTP_IDEMPOTENCY_KEY="h-1")
    assert first.json()["data"]["id"] == again.json()["data"]["id"]
