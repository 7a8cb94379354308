"""Every curl example of LocalFlow's README, run with real curl against a real daphne, works by
adding one header: `Authorization: Bearer <API token>` (and fails without it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from accounts.apitokens import api_token_create
from tests.factories import AdminFactory
from tests.support.processes import child_env, free_port, wait_for_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHELL_TASK = {"type": "shell", "payload": {"command": "echo", "args": ["Hello, LocalFlow!"]}}
HTTP_TASK = {
    "type": "http",
    "payload": {"url": "https://api.github.com", "method": "GET", "timeout": 10},
}
SCHEDULE = {
    "name": "Health Check",
    "cron_expr": "*/5 * * * *",
    "task_type": "http",
    "payload": {"url": "http://localhost:8080/health", "method": "GET"},
    "enabled": True,
}
IDEMPOTENT_TASK = {
    "type": "shell",
    "payload": {"command": "echo", "args": ["test"]},
    "idempotency_key": "unique-123",
}


@pytest.fixture
def server(processes) -> str:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    proc = processes.start("daphne", [*argv, "taskflow_site.asgi:application"], child_env())
    wait_for_port(port, proc)
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def token() -> str:
    admin = AdminFactory(username="ops")
    return api_token_create(user=admin, name="localflow-scripts")[1]


def curl(*args: str, token: str | None = None) -> tuple[int, dict]:
    """curl -s ... as the README writes it, plus the one header; (status, JSON body)."""
    header = ["-H", f"Authorization: Bearer {token}"] if token else []
    done = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", *args, *header],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body)


def post(url: str, data: dict, token: str | None) -> tuple[int, dict]:
    return curl(
        "-X",
        "POST",
        url,
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps(data),
        token=token,
    )


def test_the_readme_examples_work_with_a_token_header(server, token):
    secret = token
    status, body = post(f"{server}/api/tasks", SHELL_TASK, secret)
    assert status == 201, body
    task_id = body["data"]["id"]
    status, body = curl(f"{server}/api/tasks/{task_id}", token=secret)
    assert status == 200 and body["data"]["id"] == task_id

    status, body = post(f"{server}/api/tasks", HTTP_TASK, secret)
    assert status == 201 and body["data"]["type"] == "http"

    status, body = post(f"{server}/api/schedules", SCHEDULE, secret)
    assert status == 201 and body["data"]["cron_expr"] == "*/5 * * * *"

    first = post(f"{server}/api/tasks", IDEMPOTENT_TASK, secret)[1]["data"]["id"]
    second = post(f"{server}/api/tasks", IDEMPOTENT_TASK, secret)[1]["data"]["id"]
    assert first == second


def test_without_the_header_the_same_examples_are_refused(server, token):
    status, body = post(f"{server}/api/tasks", SHELL_TASK, None)
    assert status == 401 and body["code"] == "INVALID_TOKEN"
    status, _ = curl(f"{server}/api/schedules")
    assert status == 401
