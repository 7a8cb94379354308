"""With Redis, the worker's notify_run_changed reaches a follower at once (no poll wait)."""

from __future__ import annotations

import json
import socket
import time

import pytest
from channels.db import database_sync_to_async

from runs import consumers
from runs.live import notify_run_changed
from runs.models import RunStatus
from tests.factories import JobFactory, RunFactory
from tests.live.conftest import add_lines, communicator

REDIS = "redis://127.0.0.1:6379/12"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
def redis_layer(settings, monkeypatch):
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS], "prefix": "taskflow-test"},
        }
    }
    monkeypatch.setitem(settings.CONFIG.values, "redis_url", REDIS)
    monkeypatch.setattr(consumers, "POLL_SECONDS", 30)  # only the push can be in time


async def test_it_pushes_new_lines_through_redis(redis_layer, owner, owner_session):
    run = await database_sync_to_async(RunFactory)(
        job=await database_sync_to_async(JobFactory)(created_by=owner), status=RunStatus.RUNNING
    )
    comm = communicator(f"/api/runs/{run.id}/logs/live", session=owner_session)
    assert (await comm.connect(timeout=10))[0]  # first Redis connection
    assert json.loads(await comm.receive_from(5))["status"] == "running"

    await database_sync_to_async(add_lines)(run, 1, ["pushed"])
    started = time.monotonic()
    await database_sync_to_async(notify_run_changed)(run.id, kind="log")
    message = json.loads(await comm.receive_from(3))

    assert message["content"] == "pushed"
    assert time.monotonic() - started < 1.0
    await comm.disconnect()
