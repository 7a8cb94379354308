"""Viewers of one run share one database follower per process (runs.followers; issue 14)."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from runs.followers import follower_of
from runs.models import Run, RunStatus
from tests.factories import JobFactory, RunFactory
from tests.live.conftest import add_lines, communicator, receive_all

pytestmark = pytest.mark.django_db(transaction=True)


async def _running_run(owner):
    return await database_sync_to_async(RunFactory)(
        job=await database_sync_to_async(JobFactory)(created_by=owner),
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
    )


async def _lines(comm, count: int) -> list[tuple[int, str]]:
    got = []
    while len(got) < count:
        message = json.loads(await comm.receive_from(10))
        if message["type"] == "log":
            got.append((message["lineNumber"], message["content"]))
    return got


async def test_two_viewers_of_one_run_get_the_same_lines_from_one_follower(owner, owner_session):
    run = await _running_run(owner)
    await database_sync_to_async(add_lines)(run, 1, ["before both"])
    first = communicator(f"/api/runs/{run.id}/logs/live", session=owner_session)
    assert (await first.connect())[0]
    assert await _lines(first, 1) == [(1, "before both")]
    follower = follower_of(run.id)
    assert follower is not None

    await database_sync_to_async(add_lines)(run, 2, ["before the second"])
    assert await _lines(first, 1) == [(2, "before the second")]
    second = communicator(f"/api/runs/{run.id}/logs/live?after=1", session=owner_session)
    assert (await second.connect())[0]
    assert await _lines(second, 1) == [(2, "before the second")]  # its replay from after=1
    assert follower_of(run.id) is follower
    assert len(follower.viewers) == 2

    await database_sync_to_async(add_lines)(run, 3, ["three", "four"])
    expected = [(3, "three"), (4, "four")]
    assert await _lines(first, 2) == expected
    assert await _lines(second, 2) == expected
    assert follower_of(run.id) is follower

    await database_sync_to_async(add_lines)(run, 5, ["the end"])
    await database_sync_to_async(Run.objects.filter(pk=run.pk).update)(
        status=RunStatus.SUCCESS, exit_code=0, finished_at=timezone.now()
    )
    for comm in (first, second):
        messages, code = await receive_all(comm, timeout=10)
        assert [m.get("lineNumber") for m in messages] == [5, None]
        assert (messages[-1]["status"], code) == ("success", 1000)
    await asyncio.wait_for(follower.stopped.wait(), 10)  # the run ended: so did its follower
    assert follower_of(run.id) is None


async def test_the_follower_stops_when_its_last_viewer_leaves(owner, owner_session):
    run = await _running_run(owner)
    viewers = [communicator(f"/api/runs/{run.id}/logs/live", session=owner_session)]
    viewers.append(communicator(f"/api/runs/{run.id}/logs/live", session=owner_session))
    for comm in viewers:
        assert (await comm.connect())[0]
        assert json.loads(await comm.receive_from(5))["status"] == "running"
    follower = follower_of(run.id)
    assert follower is not None and len(follower.viewers) == 2

    await viewers[0].disconnect()
    await database_sync_to_async(add_lines)(run, 1, ["still followed"])
    assert await _lines(viewers[1], 1) == [(1, "still followed")]
    assert not follower.stopped.is_set()

    await viewers[1].disconnect()
    await asyncio.wait_for(follower.stopped.wait(), 10)
    assert follower_of(run.id) is None

    # a new viewer gets a new follower, from where it starts
    again = communicator(f"/api/runs/{run.id}/logs/live?after=1", session=owner_session)
    assert (await again.connect())[0]
    assert json.loads(await again.receive_from(5))["status"] == "running"
    await database_sync_to_async(add_lines)(run, 2, ["new follower"])
    assert await _lines(again, 1) == [(2, "new follower")]
    assert follower_of(run.id) not in (None, follower)
    await again.disconnect()


async def test_a_viewer_that_joins_behind_the_follower_misses_nothing(owner, owner_session):
    """A viewer whose replay stops before lines the follower has already passed reads them
    from the database itself (the follower never re-reads history for it)."""
    run = await _running_run(owner)
    first = communicator(f"/api/runs/{run.id}/logs/live", session=owner_session)
    assert (await first.connect())[0]
    await database_sync_to_async(add_lines)(run, 1, [f"l{n}" for n in range(1, 301)])
    assert [n for n, _ in await _lines(first, 300)] == list(range(1, 301))

    late = communicator(f"/api/runs/{run.id}/logs/live?after=0", session=owner_session)
    assert (await late.connect())[0]
    await database_sync_to_async(add_lines)(run, 301, ["fresh"])
    got = await _lines(late, 301)
    assert [n for n, _ in got] == list(range(1, 302))
    assert got[-1] == (301, "fresh")
    for comm in (first, late):
        await comm.disconnect()
