"""notify_run_changed sends from one kept sender per process, survives a fork and never raises
into the engine (issue 14: no thread and Redis connection per notice)."""

from __future__ import annotations

import multiprocessing
import socket
import threading
import uuid

import pytest
from channels.layers import get_channel_layer

from runs import live

REDIS = "redis://127.0.0.1:6379/12"

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_push(settings, monkeypatch):
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS], "prefix": "taskflow-test-push"},
        }
    }
    monkeypatch.setitem(settings.CONFIG.values, "redis_url", REDIS)


def _senders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "live-push"]


def test_many_notices_go_through_one_sender_and_arrive(redis_push):
    from asgiref.sync import async_to_sync

    layer = get_channel_layer()
    run_id = uuid.uuid4()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(live.run_group(run_id), channel)

    for _ in range(200):
        live.notify_run_changed(run_id, kind="log")
        live.notify_run_changed(uuid.uuid4(), kind="status")

    message = async_to_sync(layer.receive)(channel)
    assert message == {"type": "run.changed", "run_id": str(run_id), "kind": "log"}
    assert len(_senders()) == 1


def _child_notifies(parent_pusher_id: int, answer) -> None:
    live.notify_run_changed(uuid.uuid4(), kind="status")
    pusher = live._pusher
    answer.send((pusher is not None and id(pusher) != parent_pusher_id, len(_senders()) == 1))


def test_a_forked_child_starts_its_own_sender(redis_push):
    live.notify_run_changed(uuid.uuid4(), kind="log")
    parent = live._pusher
    reader, writer = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(
        target=_child_notifies, args=(id(parent), writer)
    )
    child.start()
    try:
        assert reader.poll(30)
        assert reader.recv() == (True, True)  # its own sender, running in the child
    finally:
        child.join(30)
    assert live._pusher is parent


def test_an_unreachable_redis_never_fails_the_caller(settings, monkeypatch):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    monkeypatch.setitem(settings.CONFIG.values, "redis_url", "redis://127.0.0.1:1/0")
    for kind in ("log", "metric", "status"):
        live.notify_run_changed(uuid.uuid4(), kind=kind)  # returns; the sender logs
