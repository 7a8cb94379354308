"""With Redis, the worker's notify_run_changed reaches a follower at once (no poll wait)."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async

from runs import consumers
from runs.followers import follower_of
from runs.live import notify_run_changed
from runs.models import RunStatus
from runs.services import run_enqueue
from tests.factories import JobFactory, RunFactory
from tests.live.conftest import add_lines, communicator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture(autouse=True)
def _push_only(redis_layer, monkeypatch):
    monkeypatch.setattr(consumers, "POLL_SECONDS", 30)  # only the push can be in time


async def test_it_pushes_new_lines_through_redis(owner, owner_session):
    run = await database_sync_to_async(RunFactory)(
        job=await database_sync_to_async(JobFactory)(created_by=owner), status=RunStatus.RUNNING
    )
    comm = communicator(f"/api/runs/{run.id}/logs/live", session=owner_session)
    assert (await comm.connect(timeout=10))[0]  # first Redis connection
    assert json.loads(await comm.receive_from(5))["status"] == "running"

    follower = follower_of(run.id)
    await asyncio.wait_for(follower.listening.wait(), 10)  # subscribed to the run's nudges
    await database_sync_to_async(add_lines)(run, 1, ["pushed"])
    await database_sync_to_async(notify_run_changed)(run.id, kind="log")
    message = json.loads(await comm.receive_from(10))  # the poll would take 30 s

    assert message["content"] == "pushed"
    await comm.disconnect()


async def test_a_queued_run_reaches_the_dashboard_through_redis(monkeypatch, owner, owner_session):
    monkeypatch.setattr(consumers, "DASHBOARD_POLL_SECONDS", 30)  # only the push is in time
    job = await database_sync_to_async(JobFactory)(created_by=owner, name="pushed")
    first, _ = await database_sync_to_async(run_enqueue)(job=job, trigger_type="manual")
    comm = communicator("/ws/dashboard", session=owner_session)
    assert (await comm.connect(timeout=10))[0]
    # its first poll: the consumer has joined the dashboard group (it joins, then polls)
    assert json.loads(await comm.receive_from(10))["runId"] == str(first.id)

    second, _ = await database_sync_to_async(run_enqueue)(job=job, trigger_type="manual")
    message = json.loads(await comm.receive_from(10))

    assert (message["runId"], message["status"]) == (str(second.id), "pending")
    await comm.disconnect()
