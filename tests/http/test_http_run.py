"""HTTP-request runs: status and body in the log, 2xx is success, timeout and cancel."""

from __future__ import annotations

import time

import pytest

from runs.engine.httpjob import (
    CANCELLED_EXIT,
    HTTP_ERROR_EXIT,
    NETWORK_ERROR_EXIT,
    TIMEOUT_EXIT,
    http_run,
)
from runs.models import RunStatus
from runs.spec import RunSpec
from tests.factories import RunFactory
from tests.http.servers import Reply
from tests.runs.helpers import execute, lines

pytestmark = pytest.mark.django_db


class Log:
    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def __call__(self, stream: str, text: str) -> None:
        self.lines.append((stream, text))

    def of(self, stream: str) -> list[str]:
        return [text for s, text in self.lines if s == stream]


def spec_for(url: str, **extra) -> RunSpec:
    return RunSpec(kind="http", url=url, **extra)


def test_it_succeeds_on_2xx_and_logs_status_and_body(local_server, allow_loopback):
    local_server.routes["/ok"] = Reply(200, b"line one\nline two\n")
    log = Log()
    code = http_run(
        spec=spec_for(local_server.url("/ok")), emit=log, deadline=None, should_stop=lambda: False
    )
    assert code == 0
    assert any(text.startswith("HTTP GET http://127.0.0.1") for text in log.of("system"))
    assert any("200 OK" in text for text in log.of("system"))
    assert log.of("stdout") == ["line one", "line two"]


def test_it_sends_method_headers_and_body(local_server, allow_loopback):
    local_server.routes["/hook"] = Reply(201, b"created")
    spec = spec_for(
        local_server.url("/hook"),
        method="POST",
        headers={"X-Token": "abc"},
        body={"hello": "world"},
    )
    assert http_run(spec=spec, emit=Log(), deadline=None, should_stop=lambda: False) == 0
    sent = local_server.requests[-1]
    assert sent.method == "POST"
    assert sent.headers["X-Token"] == "abc"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == b'{"hello": "world"}'


def test_it_fails_on_4xx_and_logs_the_status(local_server, allow_loopback):
    local_server.routes["/missing"] = Reply(404, b"nope")
    log = Log()
    code = http_run(
        spec=spec_for(local_server.url("/missing")),
        emit=log,
        deadline=None,
        should_stop=lambda: False,
    )
    assert code == HTTP_ERROR_EXIT
    assert any("404" in text for text in log.of("system"))
    assert log.of("stdout") == ["nope"]


def test_it_logs_a_refused_target_and_returns_non_zero(local_server):
    local_server.routes["/ok"] = Reply(200, b"secret")
    log = Log()
    code = http_run(
        spec=spec_for(local_server.url("/ok")), emit=log, deadline=None, should_stop=lambda: False
    )
    assert code == NETWORK_ERROR_EXIT
    assert any("loopback" in text for text in log.of("system"))
    assert local_server.requests == []


def test_it_logs_a_connection_error_without_raising(allow_loopback):
    from tests.support.processes import free_port

    log = Log()
    code = http_run(
        spec=spec_for(f"http://127.0.0.1:{free_port()}/"),
        emit=log,
        deadline=None,
        should_stop=lambda: False,
    )
    assert code == NETWORK_ERROR_EXIT
    assert any("ConnectError" in text for text in log.of("system"))


def test_it_times_out_per_the_spec_timeout(local_server, allow_loopback):
    local_server.routes["/hang"] = Reply(hang=True)
    log = Log()
    started = time.monotonic()
    code = http_run(
        spec=spec_for(local_server.url("/hang"), timeout_seconds=0.5),
        emit=log,
        deadline=None,
        should_stop=lambda: False,
    )
    assert code == TIMEOUT_EXIT
    assert time.monotonic() - started < 3
    assert any(text.startswith("timeout") for text in log.of("system"))


def test_it_stops_at_the_run_deadline(local_server, allow_loopback):
    local_server.routes["/hang"] = Reply(hang=True)
    started = time.monotonic()
    code = http_run(
        spec=spec_for(local_server.url("/hang"), timeout_seconds=60),
        emit=Log(),
        deadline=started + 0.5,
        should_stop=lambda: False,
    )
    assert code == TIMEOUT_EXIT
    assert time.monotonic() - started < 3


def test_it_cancels_mid_request_when_asked_to_stop(local_server, allow_loopback):
    local_server.routes["/hang"] = Reply(hang=True)
    started = time.monotonic()
    log = Log()
    code = http_run(
        spec=spec_for(local_server.url("/hang"), timeout_seconds=60),
        emit=log,
        deadline=None,
        should_stop=lambda: time.monotonic() - started > 0.3,
    )
    assert code == CANCELLED_EXIT
    assert time.monotonic() - started < 2
    assert any("cancelled" in text for text in log.of("system"))


def test_it_logs_at_most_64_kib_of_body(local_server, allow_loopback):
    local_server.routes["/big"] = Reply(200, b"y" * 200 + b"\n" * 0 + b"z" * 200_000)
    log = Log()
    assert (
        http_run(
            spec=spec_for(local_server.url("/big")),
            emit=log,
            deadline=None,
            should_stop=lambda: False,
        )
        == 0
    )
    assert sum(len(text) for text in log.of("stdout")) == 64 * 1024
    assert any("truncated" in text for text in log.of("system"))


def test_it_refuses_header_injection_in_the_spec(local_server, allow_loopback):
    log = Log()
    spec = spec_for(local_server.url("/"), headers={"X-A": "b\r\nX-Evil: 1"})
    assert http_run(spec=spec, emit=log, deadline=None, should_stop=lambda: False) != 0
    assert local_server.requests == []


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "http"},
        {"kind": "http", "url": "not a url"},
        {"kind": "http", "url": "http://example.com/", "headers": "oops"},
        {"kind": "http", "url": "http://example.com/", "method": "TRACE"},
        {"kind": "http", "url": "http://example.com/", "timeout_seconds": "soon"},
    ],
)
def test_a_malformed_stored_spec_fails_its_run_never_the_executor(spec):
    run = execute(RunFactory(job=None, spec=spec))
    assert run.status == RunStatus.FAILURE
    assert lines(run, "system")[-1].startswith("finished: failure")
    assert len(lines(run, "system")) >= 3  # started, why it failed, finished


def test_it_summarises_a_binary_body_instead_of_logging_it(local_server, allow_loopback):
    local_server.routes["/img"] = Reply(
        200, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {"Content-Type": "image/png"}
    )
    log = Log()
    assert (
        http_run(
            spec=spec_for(local_server.url("/img")),
            emit=log,
            deadline=None,
            should_stop=lambda: False,
        )
        == 0
    )
    assert log.of("stdout") == []
    assert any("binary response body (16 bytes, image/png)" in t for t in log.of("system"))
