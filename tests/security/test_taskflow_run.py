"""A real `taskflow run` with jobs apart from the server and nginx's Unix socket: it says the mode
at start-up and in /health and `taskflow config`, keeps its files to itself (0700/0600),
believes X-Forwarded-For from the Unix socket but not from a TCP peer on this machine, and
answers an unknown WebSocket path with a 404. A job user that does not exist stops it."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import subprocess
import sys

import pytest
import websockets
from django.db import connection
from websockets.sync.client import connect

from tests.operations.taskflow import TaskFlow
from tests.support.processes import child_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.unix_path)


def _login(connection: http.client.HTTPConnection, forwarded: str) -> int:
    body = json.dumps({"username": "owner", "password": "wrong"})
    headers = {
        "Content-Type": "application/json",
        "Host": "localhost",
        "X-Forwarded-For": forwarded,
    }
    connection.request("POST", "/api/auth/login", body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def server(processes, tmp_path, os_job_user, owner):
    data = tmp_path / "data"
    unix_socket = str(tmp_path / "tf.sock")
    running = TaskFlow(
        processes,
        data,
        TASKFLOW_JOB_USER=os_job_user,
        TASKFLOW_SOCKET=unix_socket,
        TASKFLOW_TRUSTED_PROXIES="1",
    ).start()
    return running, data, unix_socket


def test_it_runs_jobs_apart_and_says_so(server, os_job_user):
    running, data, _ = server
    assert f"Jobs: jobs run apart from the server, as {os_job_user}" in running.log()
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    connection.request("GET", "/health")
    report = json.loads(connection.getresponse().read())
    assert report["jobs"]["separated"] is True and report["jobs"]["jobUser"] == os_job_user
    env = child_env(TASKFLOW_DATA_DIR=str(data), TASKFLOW_JOB_USER=os_job_user)
    shown = subprocess.run(
        [sys.executable, "-m", "taskflow_site.cli", "config", "--no-color"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"jobs: jobs run apart from the server, as {os_job_user}" in shown.stdout


def test_its_files_are_its_own(server):
    _, data, unix_socket = server
    assert _mode(data) == 0o700
    for name in ("jwt_secret", "secret_key", "taskflow.pid"):
        assert _mode(data / name) == 0o600, name
    assert _mode(unix_socket) == 0o660
    if connection.vendor != "sqlite":
        return  # PostgreSQL keeps its files itself; the rest holds on every database
    database = connection.settings_dict["NAME"]  # the tests' database: it runs on that one
    for path in (database, f"{database}-wal", f"{database}-shm"):
        assert _mode(path) == 0o600, path


def test_x_forwarded_for_counts_from_the_unix_socket_only(server):
    running, _, unix_socket = server
    # a local process over TCP rotating the header is still one client: the sixth is refused
    tcp = [
        _login(http.client.HTTPConnection("127.0.0.1", running.port), f"9.9.9.{i}")
        for i in range(6)
    ]
    assert tcp == [401] * 5 + [429]
    # through the Unix socket (nginx) each forwarded client counts on its own
    unix = [_login(UnixConnection(unix_socket), f"8.8.8.{i}") for i in range(6)]
    assert unix == [401] * 6


def test_an_unknown_websocket_path_is_a_404(server):
    running, _, _ = server
    with pytest.raises(websockets.InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{running.port}/ws/nothing", open_timeout=10)
    assert refused.value.response.status_code == 404


def test_a_job_user_that_does_not_exist_stops_it(processes, tmp_path):
    env = child_env(TASKFLOW_JOB_USER="no-such-user-here")
    done = subprocess.run(
        TaskFlow(processes, tmp_path / "data").argv("run"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "job_user: there is no OS user 'no-such-user-here'" in done.stdout + done.stderr
