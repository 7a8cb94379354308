"""The web process's graceful stop (taskflow_site/cli/web.py), on a socket this test owns as
the supervisor would: a connection the old process accepted is answered even when its request
arrives after the drain began — a restart refuses nothing (tests/operations/test_zero_downtime)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys

import psutil
import pytest

from tests.support.processes import ROOT, child_env, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web(tmp_path):
    """A web process on a listening socket held here too, ready: (process, port)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    ready_read, ready_write = os.pipe()
    log = open(tmp_path / "web.log", "wb")  # noqa: SIM115 (closed below)
    argv = [sys.executable, "-m", "taskflow_site.cli.web"]
    argv += ["--fd", str(listener.fileno()), "--ready-fd", str(ready_write)]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        pass_fds=[listener.fileno(), ready_write],
    )
    os.close(ready_write)
    try:
        with os.fdopen(ready_read, "rb") as ready:
            assert ready.readline().startswith(b"ready"), (tmp_path / "web.log").read_text()
        yield proc, listener.getsockname()[1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        log.close()
        listener.close()


def accepted_by(proc: subprocess.Popen, client: socket.socket) -> bool:
    peer = client.getsockname()
    return any(
        conn.raddr and tuple(conn.raddr) == peer
        for conn in psutil.Process(proc.pid).net_connections("tcp")
    )


def listening_fds(proc: subprocess.Popen) -> int:
    """The web process holds the inherited socket and, while it accepts, Twisted's copy."""
    try:
        return sum(
            conn.status == psutil.CONN_LISTEN
            for conn in psutil.Process(proc.pid).net_connections("tcp")
        )
    except psutil.NoSuchProcess:
        return 0


def test_a_connection_accepted_before_the_drain_is_answered(web):
    proc, port = web
    client = socket.create_connection(("127.0.0.1", port), timeout=30)
    wait_for(lambda: accepted_by(proc, client), message="the web process to accept")

    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: listening_fds(proc) < 2, message="the web process to stop accepting")

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.sock = client
    conn.request("GET", "/health")
    response = conn.getresponse()
    # answered in full (503 here, with no cluster running), as the last on this connection
    assert json.loads(response.read())["checks"]
    assert response.getheader("Connection") == "close"
    assert proc.wait(30) == 0


def test_an_idle_kept_alive_connection_is_closed_at_once(web):
    """A client must expect that of a kept-alive connection (and retries on a new one):
    waiting for the next request on it would hold the old process DRAIN_SECONDS."""
    proc, port = web
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/health")
    response = conn.getresponse()
    response.read()
    assert response.getheader("Connection") != "close"  # HTTP/1.1: kept alive

    proc.send_signal(signal.SIGTERM)

    assert conn.sock.recv(1) == b""  # closed, nothing more sent
    assert proc.wait(10) == 0  # well within web.DRAIN_SECONDS (30 s)


def test_a_connection_that_never_speaks_is_closed_within_the_stop_grace(web):
    """A browser's preconnection holds no request: it does not hold a stop for long either."""
    proc, port = web
    client = socket.create_connection(("127.0.0.1", port), timeout=30)
    wait_for(lambda: accepted_by(proc, client), message="the web process to accept")

    proc.send_signal(signal.SIGTERM)

    assert client.recv(1) == b""
    assert proc.wait(20) == 0  # SILENT_SECONDS (5 s), well within web.DRAIN_SECONDS (30 s)
