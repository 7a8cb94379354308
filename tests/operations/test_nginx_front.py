"""A real nginx (Debian's) in front of a real `taskflow run` on loopback, configured by
deploy/nginx-taskflow.conf itself (ports and certificate rewritten): the admin UI with a cookie
login, the API with a JWT, and a live log WebSocket over wss, all through the proxy."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from jobs.models import Job
from runs.models import Run, RunStatus
from tests.factories import AdminFactory
from tests.operations.nginx import (
    NGINX,
    SERVER_NAME,
    nginx_config,
    self_signed_certificate,
    site_on_loopback,
)
from tests.operations.taskflow import TaskFlow
from tests.support.processes import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make test installs it)"),
]


@pytest.fixture
def proxied(short_tmp, processes, tmp_path):
    """(https port, nginx's access log) with TaskFlow behind nginx; both stopped by PID at
    teardown."""
    taskflow = TaskFlow(
        processes,
        short_tmp / "data",
        TASKFLOW_TRUSTED_PROXIES="1",
        TASKFLOW_TRUSTED_PROXY_ADDRESSES="127.0.0.1",  # nginx over TCP here, not the socket
        TASKFLOW_ALLOWED_HOSTS=SERVER_NAME,
        TASKFLOW_CSRF_TRUSTED_ORIGINS=f"https://{SERVER_NAME}",
        TASKFLOW_PUBLIC_URL=f"https://{SERVER_NAME}",
    ).start()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    certificate, key = self_signed_certificate(prefix)
    https_port = free_port()
    site = site_on_loopback(
        (ROOT / "deploy/nginx-taskflow.conf").read_text(),
        http_port=free_port(),
        https_port=https_port,
        upstream_port=taskflow.port,
    )
    site = site.replace("/etc/letsencrypt/live/taskflow.example.com/fullchain.pem", certificate)
    site = site.replace("/etc/letsencrypt/live/taskflow.example.com/privkey.pem", key)
    config = nginx_config(prefix, site, foreground=True)
    processes.start("nginx", [NGINX, "-p", str(prefix), "-c", str(config)])
    wait_for_port(https_port)
    return https_port, prefix / "logs" / "access.log"


def client(port: int) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{port}",
        headers={"Host": SERVER_NAME},
        verify=False,
        timeout=30,
    )


def test_ui_api_and_live_logs_work_through_nginx(proxied):
    port, access_log = proxied
    admin = AdminFactory(username="boss")
    job = Job.objects.create(
        name="through-nginx",
        script='for i in $(seq 1 30); do echo "line $i"; sleep 0.05; done',
        working_dir="/tmp",
        created_by=admin,
    )

    with client(port) as web:
        # /health through the proxy: a proxied request, so the Host must be a served one
        assert web.get("/health").status_code == 200
        assert web.get("/health", headers={"Host": "evil.example"}).status_code == 400

        # the UI: the admin's cookie login (CSRF over HTTPS, behind a TLS-terminating proxy)
        page = web.get("/admin/login/")
        assert page.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        done = web.post(
            "/admin/login/?next=/admin/",
            data={"username": "boss", "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": f"https://{SERVER_NAME}/admin/login/"},
        )
        assert done.status_code == 302 and done.headers["location"] == "/admin/"
        assert web.get("/admin/").status_code == 200

    with client(port) as api:
        login = api.post("/api/auth/login", json={"username": "boss", "password": PASSWORD})
        assert login.status_code == 200, login.text
        api.headers["Authorization"] = f"Bearer {login.json()['data']['access']}"
        jobs = api.get("/api/jobs")
        assert jobs.status_code == 200 and jobs.json()["status"] == "success"
        triggered = api.post(f"/api/jobs/{job.pk}/run")
        assert triggered.status_code == 201, triggered.text
        run_id = triggered.json()["data"]["runId"]
        ticket = api.post("/api/auth/ws-ticket").json()["data"]["ticket"]

    messages = asyncio.run(live_log(port, run_id, ticket))

    lines = [m["content"] for m in messages if m["type"] == "log" and m["stream"] == "stdout"]
    assert lines == [f"line {n}" for n in range(1, 31)]
    assert messages[-1]["type"] == "status" and messages[-1]["status"] == "success"
    assert Run.objects.get(pk=run_id).status == RunStatus.SUCCESS
    # and it all went through nginx: its access log has the API call and the WebSocket
    requests = access_log.read_text()
    assert "GET /api/jobs HTTP" in requests
    assert f"GET /api/runs/{run_id}/logs/live?ticket=" in requests


async def live_log(port: int, run_id: str, ticket: str) -> list[dict]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    uri = f"wss://{SERVER_NAME}:{port}/api/runs/{run_id}/logs/live?ticket={ticket}"
    messages: list[dict] = []
    async with connect(
        uri, ssl=context, host="127.0.0.1", port=port, origin=f"https://{SERVER_NAME}"
    ) as ws:
        async for raw in ws:
            message = json.loads(raw)
            messages.append(message)
            if message["type"] == "status" and message["status"] not in ("pending", "running"):
                break
    return messages
