"""What the CLI says is true: /health is reachable from inside whatever the host list says,
`start` fails on a taken port before claiming anything, `status`/`stop` find a TaskFlow started
in the foreground, and `taskflow config | head` ends quietly."""

from __future__ import annotations

import http.server
import logging
import subprocess
import sys
import threading

import pytest

from taskflow_site.lib.logs import NoTraceback
from tests.operations.taskflow import TaskFlow
from tests.support.processes import child_env


def taskflow(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "taskflow_site.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db
def test_health_answers_any_host_from_loopback_only(client, settings):
    settings.ALLOWED_HOSTS = ["taskflow.example.com"]
    direct = client.get("/health", HTTP_HOST="127.0.0.1:8080", REMOTE_ADDR="127.0.0.1")
    assert direct.status_code in (200, 503)  # answered (503: no cluster in this test)
    assert "checks" in direct.json()
    assert client.get("/health", HTTP_HOST="x", REMOTE_ADDR="::1").status_code in (200, 503)
    # through a proxy, or from elsewhere, the host list applies as everywhere else
    proxied = client.get(
        "/health", HTTP_HOST="evil.example", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4"
    )
    assert proxied.status_code == 400
    elsewhere = client.get("/health", HTTP_HOST="evil.example", REMOTE_ADDR="10.1.2.3")
    assert elsewhere.status_code == 400
    # other pages from loopback still check the Host
    setup = client.get("/setup/status", HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")
    assert setup.status_code == 400


def test_a_refused_host_is_logged_as_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Invalid HTTP_HOST", (), None)
        record.exc_info = sys.exc_info()
    assert NoTraceback().filter(record)
    text = logging.Formatter().format(record)
    assert text == "Invalid HTTP_HOST" and "Traceback" not in text


class Answering(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args):
        pass


def test_start_and_run_refuse_a_port_another_server_holds(tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), Answering)  # it even answers /health
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = child_env(TASKFLOW_DATA_DIR=str(tmp_path / "data"), TASKFLOW_PORT=str(port))
        started = taskflow(env, "start", "--no-color")
        assert started.returncode == 1
        assert f"port {port} on 127.0.0.1 is already in use" in started.stderr
        assert "started" not in started.stdout.lower()
        assert not (tmp_path / "data" / "taskflow.pid").exists()
        ran = taskflow(env, "run", "--no-color")
        assert ran.returncode == 1
        assert f"port {port} on 127.0.0.1 is already in use" in ran.stderr
        assert "Traceback" not in ran.stderr
    finally:
        server.shutdown()
        server.server_close()


def test_config_piped_into_head_ends_quietly(tmp_path):
    env = child_env(TASKFLOW_DATA_DIR=str(tmp_path))
    # many lines, read one: the writer meets a closed pipe
    done = subprocess.run(
        f"{sys.executable} -m taskflow_site.cli config --markdown | head -n 1",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.startswith("| Key |")
    assert done.stderr == ""


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_status_health_and_stop_find_a_foreground_taskflow(processes, tmp_path):
    """Started in the foreground, with a host list that leaves out 127.0.0.1."""
    foreground = TaskFlow(
        processes, tmp_path / "data", TASKFLOW_ALLOWED_HOSTS="taskflow.example.com"
    ).start()
    env = child_env(TASKFLOW_DATA_DIR=str(tmp_path / "data"), TASKFLOW_PORT=str(foreground.port))
    env["TASKFLOW_ALLOWED_HOSTS"] = "taskflow.example.com"

    health = taskflow(env, "health")
    status = taskflow(env, "status")
    again = taskflow(env, "start")
    stopped = taskflow(env, "stop")

    assert health.returncode == 0, health.stderr
    assert status.returncode == 0
    assert f"running (pid {foreground.proc.pid})" in status.stdout and "healthy" in status.stdout
    assert again.returncode == 0 and "already running" in again.stdout
    assert stopped.returncode == 0 and "TaskFlow stopped." in stopped.stdout
    assert foreground.proc.wait(30) == 0
    assert "Traceback" not in foreground.log()
    assert taskflow(env, "status").returncode == 3
