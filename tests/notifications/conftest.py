"""Real SMTP servers for notification tests: an aiosmtpd one, and one that never answers."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from notifications.smtp import smtp_settings_update
from runs.logformat import encode_lines
from runs.models import LogChunk, RunStatus
from tests.factories import JobFactory, RunFactory
from tests.http.fixtures import allow_loopback, local_server  # noqa: F401 (fixtures)
from tests.support.processes import free_port


class RecordingHandler:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued as TESTQUEUE1"


class SmtpServer:
    def __init__(self):
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def messages(self) -> list[str]:
        return [env.content.decode("utf-8", "replace") for env in self.handler.envelopes]

    @property
    def recipients(self) -> list[list[str]]:
        return [env.rcpt_tos for env in self.handler.envelopes]


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    yield server
    server.controller.stop()


@pytest.fixture
def smtp_configured(db, smtp_server):
    smtp_settings_update(
        data={
            "server": "127.0.0.1",
            "port": smtp_server.port,
            "use_tls": False,
            "from_email": "taskflow@example.com",
            "timeout": 5,
        }
    )
    return smtp_server


class HungServer:
    """Accepts TCP connections and never says a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def stop(self):
        self.stopped.set()
        self.thread.join(5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def hung_server():
    server = HungServer()
    yield server
    server.stop()


def finished_run(job, status=RunStatus.FAILURE, *, minutes_ago=0, exit_code=None, **extra):
    """A run of `job` that finished `minutes_ago` with `status`."""
    finished = timezone.now() - timedelta(minutes=minutes_ago)
    if exit_code is None:
        exit_code = 0 if status == RunStatus.SUCCESS else 1
    return RunFactory(
        job=job,
        status=status,
        exit_code=exit_code,
        started_at=finished - timedelta(seconds=3),
        finished_at=finished,
        duration_ms=3000,
        **extra,
    )


def add_log(run, count: int) -> None:
    data = encode_lines(("stdout", index, f"output line {index + 1}") for index in range(count))
    LogChunk.objects.create(
        run=run, first_line=1, last_line=count, created_at=timezone.now(), data=data
    )
    type(run).objects.filter(pk=run.pk).update(log_lines=count)


@pytest.fixture
def mail_job(owner):
    return JobFactory(
        name="nightly-backup", created_by=owner, notify_emails="ops@example.com, dev@example.com"
    )
