"""HTTP-request runs (LocalFlow's http handler), sent through taskflow_site.lib.netguard.

Exit codes the executor maps to a status: 0 = 2xx, 1 = any other HTTP status, 2 = refused by
netguard or a network error, TIMEOUT_EXIT (124) = the deadline/timeout passed, CANCELLED_EXIT
(143) = should_stop() turned true. The engine decides the Run status itself (it knows whether
it asked to stop or the deadline passed); these codes only make the log and exit_code honest.

`{{params.NAME}}` in the URL (percent-encoded there), the headers and the body is replaced by
the run's value of parameter NAME ("" when it has none) before anything is sent, so netguard
checks the final URL; a secret value is masked in every line this module logs.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from django.utils import timezone

from accounts import services as account_services
from jobs.models import HTTP_METHODS
from jobs.params import REFERENCE
from runs.logformat import mask_secrets
from runs.spec import RunSpec
from taskflow_site.lib import netguard

OK_EXIT = 0
HTTP_ERROR_EXIT = 1
NETWORK_ERROR_EXIT = 2
TIMEOUT_EXIT = 124
CANCELLED_EXIT = 143
BODY_LOG_BYTES = 64 * 1024
POLL_SECONDS = 0.1
DEADLINE_SLACK_SECONDS = 1.0
DEFAULT_TIMEOUT_SECONDS = 30.0


def _seconds_left(deadline) -> float | None:
    """deadline: a time.monotonic() instant (preferred), a time.time() instant, or a datetime."""
    if deadline is None:
        return None
    if isinstance(deadline, datetime):
        return (deadline - timezone.now()).total_seconds()
    value = float(deadline)
    # epoch seconds are ~1.7e9; monotonic clocks count from boot
    if value > 1e9:
        return value - time.time()
    return value - time.monotonic()


def _body_bytes(body, headers: dict[str, str]) -> bytes | None:
    if body is None or body == "":
        return None
    if isinstance(body, dict | list):
        if not any(key.lower() == "content-type" for key in headers):
            headers["Content-Type"] = "application/json"
        return json.dumps(body).encode()
    return str(body).encode()


def _substitute(text: str, values: dict[str, str], *, in_url: bool = False) -> str:
    def value(match) -> str:
        found = values.get(match.group(1), "")
        return quote(found, safe="") if in_url else found

    return REFERENCE.sub(value, text) if "{{" in text else text


def _substituted(spec: RunSpec) -> tuple[str, dict[str, str], str | dict | list]:
    """(url, headers, body) with the run's parameter values in place of {{params.NAME}}."""
    values = spec.params

    def body(part):
        if isinstance(part, str):
            return _substitute(part, values)
        if isinstance(part, dict):
            return {key: body(item) for key, item in part.items()}
        return [body(item) for item in part] if isinstance(part, list) else part

    headers = {key: _substitute(val, values) for key, val in spec.headers.items()}
    return _substitute(spec.url, values, in_url=True), headers, body(spec.body)


def http_run(
    *,
    spec: RunSpec,
    emit: Callable[[str, str], None],
    deadline=None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Send the request `spec` describes (method, url, headers, body, timeout_seconds) and
    log it: request and status lines as "system", up to 64 KiB of body as "stdout" lines.

    The request runs on an event loop in a helper thread so this thread can poll
    `should_stop()` and the deadline every 0.1 s and cancel it mid-flight; emit() and
    should_stop() are only ever called from the caller's thread. Never raises.
    """
    secrets = [spec.params.get(name, "") for name in spec.secret_params]
    if any(secrets):
        unmasked = emit

        def emit(stream: str, text: str) -> None:
            unmasked(stream, mask_secrets(text, secrets))

    try:
        method = spec.method.upper()
        url, headers, body = _substituted(spec)
        if method not in HTTP_METHODS:
            emit("system", f"refused: HTTP method {method!r} is not supported")
            return NETWORK_ERROR_EXIT
        if any("\r" in k + v or "\n" in k + v for k, v in headers.items()):
            emit("system", "refused: header names and values may not contain line breaks")
            return NETWORK_ERROR_EXIT
        content = _body_bytes(body, headers)
        timeout = float(spec.timeout_seconds or DEFAULT_TIMEOUT_SECONDS)
        left = _seconds_left(deadline)
        if left is not None and left <= 0:
            emit("system", "timeout: no time left before the run's deadline")
            return TIMEOUT_EXIT
        if left is not None and timeout >= left:
            # The run's deadline is the binding limit: the watch loop enforces it (so the
            # engine sees its own deadline pass), the request's own timeout is only a backstop.
            timeout = left + DEADLINE_SLACK_SECONDS
        if timeout <= 0:
            emit("system", "timeout: the request timeout must be positive")
            return NETWORK_ERROR_EXIT
        allowlist = account_services.allowlist_load()
    except Exception as exc:  # a malformed spec must end as a failed run, not a crash
        emit("system", f"invalid HTTP request spec: {exc}")
        return NETWORK_ERROR_EXIT
    return _run_with_watch(
        method=method,
        url=url,
        headers=headers,
        content=content,
        timeout=timeout,
        allowlist=allowlist,
        emit=emit,
        deadline=deadline,
        should_stop=should_stop,
    )


def _run_with_watch(
    *, method, url, headers, content, timeout, allowlist, emit, deadline, should_stop
) -> int:
    events: queue.Queue = queue.Queue()
    loop = asyncio.new_event_loop()
    started = time.monotonic()

    hops = []

    def on_hop(hop_method: str, hop_url: str, target: netguard.Target) -> None:
        prefix = "redirected: " if hops else ""
        hops.append(hop_url)
        events.put(("system", f"{prefix}{hop_method} {hop_url} (connecting to {target.ip})"))

    async def send():
        return await netguard.arequest(
            method,
            url,
            allowlist=allowlist,
            headers=headers,
            content=content,
            timeout=timeout,
            max_body=BODY_LOG_BYTES,
            on_hop=on_hop,
        )

    task = loop.create_task(send())
    outcome: dict = {}

    def drive() -> None:
        try:
            outcome["response"] = loop.run_until_complete(task)
        except asyncio.CancelledError:
            outcome["cancelled"] = True
        except BaseException as exc:  # reported by the caller's thread
            outcome["error"] = exc
        finally:
            loop.close()

    emit("system", f"HTTP {method} {url} (timeout {timeout:g} s)")
    thread = threading.Thread(target=drive, name="http-run", daemon=True)
    thread.start()
    stop_reason = None
    while thread.is_alive():
        thread.join(POLL_SECONDS)
        _drain(events, emit)
        if stop_reason is None and thread.is_alive():
            stopped = should_stop()  # always asked: the engine keeps its own clock in it
            left = _seconds_left(deadline)
            if left is not None and left <= 0:
                stop_reason = "deadline"
            elif stopped:
                stop_reason = "cancelled"
            if stop_reason:
                loop.call_soon_threadsafe(task.cancel)
    _drain(events, emit)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    if stop_reason == "cancelled":
        emit("system", f"request cancelled after {elapsed_ms} ms")
        return CANCELLED_EXIT
    if stop_reason == "deadline":
        should_stop()  # let the engine's own deadline check see the instant has passed
        emit("system", f"timeout: the run's deadline passed after {elapsed_ms} ms")
        return TIMEOUT_EXIT
    error = outcome.get("error")
    if isinstance(error, netguard.Timeout):
        emit("system", f"timeout: {error}")
        return TIMEOUT_EXIT
    if isinstance(error, netguard.NetguardError):
        emit("system", str(error))
        return NETWORK_ERROR_EXIT
    if error is not None:
        emit("system", f"request failed: {type(error).__name__}: {error}")
        return NETWORK_ERROR_EXIT
    response: netguard.Response = outcome["response"]
    emit("system", f"{response.status_line} ({elapsed_ms} ms)")
    if b"\x00" in response.body:  # binary (an image, an archive): lines of it help nobody
        kind = response.headers.get("content-type", "unknown type")
        emit("system", f"binary response body ({len(response.body)} bytes, {kind}) not logged")
    else:
        for line in response.text.splitlines():
            emit("stdout", line)
    if response.truncated:
        emit("system", f"response body truncated after {BODY_LOG_BYTES} bytes")
    if response.ok:
        return OK_EXIT
    emit("system", f"HTTP status {response.status_code} is not 2xx: failure")
    return HTTP_ERROR_EXIT


def _drain(events: queue.Queue, emit) -> None:
    while True:
        try:
            stream, text = events.get_nowait()
        except queue.Empty:
            return
        emit(stream, text)
