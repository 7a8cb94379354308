"""notify_run_changed sends from one kept sender per process, survives a fork and never raises
into the engine (issue 14: no thread and Redis connection per notice); a burst goes as one
message naming its runs (one to the followers, one to the dashboards), and a run's "queued"
notice only to the dashboards."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import uuid

import pytest
from channels.layers import get_channel_layer

from runs import live
from tests.support.processes import python_output

pytestmark = pytest.mark.redis


def _senders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "live-push"]


async def _subscribed(group: str) -> tuple[object, str]:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


async def test_many_notices_go_through_one_sender_and_arrive_in_a_few_messages(redis_layer):
    watched = str(uuid.uuid4())
    layer, channel = await _subscribed(live.RUNS_GROUP)

    others = [str(uuid.uuid4()) for _ in range(200)]
    for other in others:
        live.notify_run_changed(watched, kind="log")
        live.notify_run_changed(other, kind="status")

    heard: dict[str, str] = {}
    messages = 0
    while not {watched, *others} <= set(heard):
        message = await asyncio.wait_for(layer.receive(channel), 30)
        assert message["type"] == "runs.changed"
        heard.update(message["runs"])
        messages += 1
    assert heard[watched] == "log"
    assert messages < 200  # batched: the first notice at once, the rest together
    assert len(_senders()) == 1


async def test_a_queued_run_nudges_the_dashboards_only(redis_layer):
    run_id = str(uuid.uuid4())
    layer, runs_channel = await _subscribed(live.RUNS_GROUP)
    dashboard_channel = await layer.new_channel()
    await layer.group_add(live.DASHBOARD_GROUP, dashboard_channel)

    live.notify_run_changed(uuid.uuid4(), kind="status")  # opens the dashboards' pacing window
    live.notify_run_changed(run_id, kind="queued")
    live.notify_run_changed(run_id, kind="log")

    # nobody can follow a run before the commit that queued it: the followers hear "log" only
    followed: dict[str, str] = {}
    while run_id not in followed:
        followed.update((await asyncio.wait_for(layer.receive(runs_channel), 30))["runs"])
    assert followed[run_id] == "log"
    # the dashboards' nudges are paced: a held one is merged with what comes after it, so
    # the queued run is never lost behind it
    heard: dict[str, str] = {}
    while run_id not in heard:
        heard.update((await asyncio.wait_for(layer.receive(dashboard_channel), 30))["runs"])
    assert heard[run_id] == "queued"
    assert set(heard.values()) <= {"status", "queued"}


def _child_notifies(parent_pusher_id: int, answer) -> None:
    live.notify_run_changed(uuid.uuid4(), kind="status")
    pusher = live._pusher
    answer.send((pusher is not None and id(pusher) != parent_pusher_id, len(_senders()) == 1))


def test_a_forked_child_starts_its_own_sender(redis_layer):
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


def test_an_unreachable_redis_never_fails_the_caller(settings, monkeypatch, live_sender):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    monkeypatch.setitem(settings.CONFIG.values, "redis_url", "redis://127.0.0.1:1/0")
    for kind in ("log", "metric", "status", "queued"):
        live.notify_run_changed(uuid.uuid4(), kind=kind)  # returns; the sender logs


def _layer_prefix(redis_url: str) -> str:
    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'taskflow_site.settings';"
        "from django.conf import settings;"
        "print(settings.CHANNEL_LAYERS['default']['CONFIG']['prefix'])"
    )
    env = {**os.environ, "REDIS_URL": redis_url}
    env.pop("TASKFLOW_REDIS_URL", None)
    return python_output(code, env)


def test_installs_on_other_redis_databases_do_not_hear_each_other():
    # pub/sub channels are server-wide; the prefix carries the database number
    assert _layer_prefix("redis://127.0.0.1:6379/3") == "taskflow-db3"
    assert _layer_prefix("redis://127.0.0.1:6379") == "taskflow-db0"
