"""Helpers for the live-stream tests: log chunks, sessions, and a communicator factory."""

from __future__ import annotations

import json
import socket
import uuid

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from runs import consumers, live
from runs.logformat import encode_lines
from runs.models import LogChunk

ORIGIN = b"http://localhost:8000"
REDIS = "redis://127.0.0.1:6379/12"
REAL_AUTH_RECHECK_SECONDS = consumers.AUTH_RECHECK_SECONDS  # before fast_live shortens it


def add_lines(run, first: int, texts: list[str], stream: str = "stdout") -> None:
    LogChunk.objects.create(
        run=run,
        first_line=first,
        last_line=first + len(texts) - 1,
        created_at=timezone.now(),
        data=encode_lines((stream, 0, text) for text in texts),
    )


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Communicator(WebsocketCommunicator):
    """Longer default timeouts: the shared test machine is often busy."""

    async def connect(self, timeout=10):
        return await super().connect(timeout)


def communicator(path: str, *, session: str | None = None, origin: bytes | None = ORIGIN):
    from taskflow_site.asgi import application

    headers = [(b"host", b"localhost:8000")]  # the site's own origin is ORIGIN
    if origin is not None:
        headers.append((b"origin", origin))
    if session:
        headers.append((b"cookie", f"sessionid={session}".encode()))
    return Communicator(application, path, headers=headers)


async def receive_all(comm, timeout: float = 5) -> tuple[list[dict], int | None]:
    """Every message until the server closes; returns (messages, close code)."""
    messages = []
    while True:
        output = await comm.receive_output(timeout)
        if output["type"] == "websocket.close":
            return messages, output.get("code")
        messages.append(json.loads(output["text"]))


@pytest.fixture(autouse=True)
def fast_live(monkeypatch):
    """Re-check auth often so revocation tests finish quickly (the 5 s promise is tested too)."""
    monkeypatch.setattr(consumers, "AUTH_RECHECK_SECONDS", 0.3)
    monkeypatch.setattr(consumers, "DASHBOARD_POLL_SECONDS", 0.2)


@pytest.fixture
def owner_session(owner):
    return session_cookie(owner)


@pytest.fixture
def outsider_session(outsider):
    return session_cookie(outsider)


@pytest.fixture
def admin_session(admin_user):
    return session_cookie(admin_user)


@pytest.fixture
def live_sender(settings):
    """A test's own live-push sender, stopped before its settings are restored (a sender left
    running would read CHANNEL_LAYERS while they change and could keep another test's layer)."""
    live.stop_pusher()
    yield
    live.stop_pusher()


@pytest.fixture
def redis_layer(settings, monkeypatch, live_sender):
    """Live push through Redis pub/sub, on a prefix of this test's own (pub/sub ignores
    database numbers)."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS], "prefix": f"taskflow-test-{uuid.uuid4().hex}"},
        }
    }
    monkeypatch.setitem(settings.CONFIG.values, "redis_url", REDIS)
