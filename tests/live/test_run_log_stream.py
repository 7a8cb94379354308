"""The live log WebSocket: replay, after=k, follow, coalescing, and the final status."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from metrics.models import MetricSample
from runs.followers import follower_of
from runs.models import Run, RunStatus
from tests.factories import JobFactory, RunFactory
from tests.live.conftest import add_lines, communicator, receive_all

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished_run(owner):
    run = RunFactory(
        job=JobFactory(created_by=owner),
        status=RunStatus.SUCCESS,
        exit_code=0,
        duration_ms=1234,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    add_lines(run, 1, ["one", "two"])
    add_lines(run, 3, ["oops"], stream="stderr")
    add_lines(run, 4, ["four", "five"])
    return run


async def test_it_replays_a_finished_run_then_sends_the_final_status_and_closes(
    owner_session, owner, finished_run
):
    comm = communicator(f"/api/runs/{finished_run.id}/logs/live", session=owner_session)
    connected, _ = await comm.connect()
    assert connected

    messages, code = await receive_all(comm)

    logs = [m for m in messages if m["type"] == "log"]
    assert [m["lineNumber"] for m in logs] == [1, 2, 3, 4, 5]
    assert logs[2] == {
        "type": "log",
        "runId": str(finished_run.id),
        "timestamp": logs[2]["timestamp"],
        "stream": "stderr",
        "content": "oops",
        "lineNumber": 3,
    }
    assert logs[0]["timestamp"].endswith("Z")
    # runs.wire's order, byte for byte as the stream always sent it
    assert list(logs[2]) == ["type", "runId", "timestamp", "stream", "content", "lineNumber"]
    assert messages[-1] == {
        "type": "status",
        "runId": str(finished_run.id),
        "timestamp": messages[-1]["timestamp"],
        "status": "success",
        "exitCode": 0,
        "duration": 1234,
    }
    assert code == 1000


async def test_it_replays_only_lines_after_k(owner_session, owner, finished_run):
    comm = communicator(f"/api/runs/{finished_run.id}/logs/live?after=2", session=owner_session)
    await comm.connect()

    messages, _ = await receive_all(comm)

    assert [m["lineNumber"] for m in messages if m["type"] == "log"] == [3, 4, 5]


async def test_it_follows_a_running_run_until_it_finishes(owner, owner_session):
    run = await database_sync_to_async(RunFactory)(
        job=await database_sync_to_async(JobFactory)(created_by=owner),
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
    )
    await database_sync_to_async(add_lines)(run, 1, ["started"])
    comm = communicator(f"/api/runs/{run.id}/logs/live", session=owner_session)
    await comm.connect()

    first = json.loads(await comm.receive_from(5))
    second = json.loads(await comm.receive_from(5))
    assert (first["type"], first["status"]) == ("status", "running")
    assert (second["lineNumber"], second["content"]) == (1, "started")

    await database_sync_to_async(add_lines)(run, 2, ["working", "still working"])
    assert [json.loads(await comm.receive_from(5))["lineNumber"] for _ in range(2)] == [2, 3]

    await database_sync_to_async(MetricSample.objects.create)(
        run=run,
        timestamp=timezone.now(),
        cpu_percent=97.5,
        memory_bytes=256_000_000,
        memory_percent=25.0,
    )
    metric = json.loads(await comm.receive_from(5))
    assert metric == {
        "type": "metric",
        "runId": str(run.id),
        "timestamp": metric["timestamp"],
        "cpuPercent": 97.5,
        "memoryBytes": 256_000_000,
        "memoryPercent": 25.0,
    }

    await database_sync_to_async(add_lines)(run, 4, ["done"])
    await database_sync_to_async(Run.objects.filter(pk=run.pk).update)(
        status=RunStatus.FAILURE, exit_code=3, duration_ms=900, finished_at=timezone.now()
    )
    messages, code = await receive_all(comm)
    assert [m.get("lineNumber") for m in messages] == [4, None]
    assert (messages[-1]["status"], messages[-1]["exitCode"]) == ("failure", 3)
    assert code == 1000


async def test_it_coalesces_a_flood_into_batches_when_asked(owner, owner_session):
    run = await database_sync_to_async(RunFactory)(
        job=await database_sync_to_async(JobFactory)(created_by=owner),
        status=RunStatus.SUCCESS,
        finished_at=timezone.now(),
    )
    for first in range(1, 5001, 1000):
        texts = [f"line {n}" for n in range(first, first + 1000)]
        await database_sync_to_async(add_lines)(run, first, texts)
    comm = communicator(f"/api/runs/{run.id}/logs/live?batch=1", session=owner_session)
    await comm.connect()

    messages, _ = await receive_all(comm)

    batches = [m for m in messages if m["type"] == "log_batch"]
    numbers = [line["lineNumber"] for batch in batches for line in batch["lines"]]
    assert numbers == list(range(1, 5001))
    assert len(batches) == 10
    assert batches[0]["runId"] == str(run.id)
    assert list(batches[0]["lines"][0]) == ["timestamp", "stream", "content", "lineNumber"]
    assert list(batches[0]) == ["type", "runId", "lines"]
    assert not [m for m in messages if m["type"] == "log"]


async def test_a_client_written_from_the_docs_gets_one_log_message_per_line(owner, owner_session):
    """No query parameter: a burst of 504 lines arrives as 504 "log" messages, never a
    "log_batch" frame such a client would not know."""
    run = await database_sync_to_async(RunFactory)(
        job=await database_sync_to_async(JobFactory)(created_by=owner),
        status=RunStatus.SUCCESS,
        finished_at=timezone.now(),
    )
    await database_sync_to_async(add_lines)(run, 1, [str(n) for n in range(1, 505)])
    comm = communicator(f"/api/runs/{run.id}/logs/live", session=owner_session)
    await comm.connect()

    messages, _ = await receive_all(comm)

    assert {m["type"] for m in messages} == {"log", "status"}
    logs = [m for m in messages if m["type"] == "log"]
    assert [m["lineNumber"] for m in logs] == list(range(1, 505))
    assert list(logs[0]) == ["type", "runId", "timestamp", "stream", "content", "lineNumber"]


async def test_it_reads_at_once_when_nudged_through_the_channel_layer(
    owner, owner_session, monkeypatch
):
    from channels.layers import get_channel_layer

    from runs import consumers
    from runs.live import RUNS_GROUP, changed_message

    monkeypatch.setattr(consumers, "POLL_SECONDS", 30)  # only a nudge can deliver in time
    run = await database_sync_to_async(RunFactory)(
        job=await database_sync_to_async(JobFactory)(created_by=owner),
        status=RunStatus.RUNNING,
    )
    comm = communicator(f"/api/runs/{run.id}/logs/live", session=owner_session)
    await comm.connect()
    assert json.loads(await comm.receive_from(5))["status"] == "running"

    follower = follower_of(run.id)
    await asyncio.wait_for(follower.listening.wait(), 10)  # subscribed to the nudges
    await database_sync_to_async(add_lines)(run, 1, ["pushed"])
    await get_channel_layer().group_send(RUNS_GROUP, changed_message({str(run.id): "log"}))

    assert json.loads(await comm.receive_from(2))["content"] == "pushed"
    await comm.disconnect()
