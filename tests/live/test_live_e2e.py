"""End to end: a real daphne (and the real cluster running real bash) serving the live stream
to a real WebSocket client; replay, follow, reconnect with after=k (C8, C9), E5 refusals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from django.utils import timezone
from websockets.asyncio.client import connect

from accounts.services import token_pair_for
from runs.models import Run, RunStatus
from runs.services import run_enqueue, run_log_lines
from tests.factories import JobFactory, RunFactory
from tests.live.conftest import add_lines, session_cookie
from tests.support.processes import free_port, wait_for, wait_for_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.fixture
def daphne(processes):
    port = free_port()
    daphne_bin = str(Path(sys.executable).with_name("daphne"))
    proc = processes.start(
        "daphne", [daphne_bin, "-b", "127.0.0.1", "-p", str(port), "taskflow_site.asgi:application"]
    )
    wait_for_port(port, proc)
    return port


@pytest.fixture
def cluster(processes):
    proc = processes.manage("qcluster", "qcluster")
    from runs.models import WorkerHeartbeat

    wait_for(
        lambda: proc.poll() is None and WorkerHeartbeat.objects.filter(role="cluster").exists(),
        timeout=60,
        message="cluster heartbeat",
    )
    return proc


def ws_url(port, run, after=None, **params):
    query = dict(params)
    if after is not None:
        query["after"] = after
    text = "&".join(f"{key}={value}" for key, value in query.items())
    return f"ws://127.0.0.1:{port}/api/runs/{run.id}/logs/live" + (f"?{text}" if text else "")


async def collect(ws, *, until=None, timeout=30) -> tuple[list[dict], int | None]:
    """Messages (log_batch flattened into log messages) until `until(message)` or the close."""
    messages = []
    try:
        while True:
            raw = await asyncio.wait_for(ws.recv(), timeout)
            message = json.loads(raw)
            if message["type"] == "log_batch":
                batch = [{"type": "log", **line} for line in message["lines"]]
            else:
                batch = [message]
            messages.extend(batch)
            if until is not None and any(until(item) for item in batch):
                return messages, None
    except websockets.ConnectionClosed:
        return messages, ws.close_code


def numbers(messages) -> list[int]:
    return [m["lineNumber"] for m in messages if m["type"] == "log"]


async def test_it_replays_and_resumes_after_k_through_real_daphne(daphne, owner):
    run = await sync_to_async(RunFactory)(
        job=await sync_to_async(JobFactory)(created_by=owner),
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
    )
    await sync_to_async(add_lines)(run, 1, [f"line {n}" for n in range(1, 21)])
    cookie = await sync_to_async(session_cookie)(owner)
    origin = f"http://127.0.0.1:{daphne}"
    headers = {"Cookie": f"sessionid={cookie}"}

    async with connect(ws_url(daphne, run), origin=origin, additional_headers=headers) as ws:
        first, _ = await collect(ws, until=lambda m: m.get("lineNumber") == 10)
    k = numbers(first)[-1]
    await sync_to_async(add_lines)(run, 21, [f"line {n}" for n in range(21, 31)])
    await sync_to_async(Run.objects.filter(pk=run.pk).update)(
        status=RunStatus.SUCCESS, exit_code=0, finished_at=timezone.now(), duration_ms=5
    )
    async with connect(
        ws_url(daphne, run, after=k), origin=origin, additional_headers=headers
    ) as ws:
        rest, code = await collect(ws)

    assert numbers(first)[:10] == list(range(1, 11))
    assert numbers(first) + numbers(rest) == list(range(1, 31))
    assert rest[-1]["type"] == "status" and rest[-1]["status"] == "success"
    assert code == 1000


async def test_it_rejects_wrong_origin_and_other_users_at_the_handshake(daphne, owner, outsider):
    run = await sync_to_async(RunFactory)(
        job=await sync_to_async(JobFactory)(created_by=owner), status=RunStatus.RUNNING
    )
    owner_cookie = await sync_to_async(session_cookie)(owner)
    outsider_cookie = await sync_to_async(session_cookie)(outsider)

    with pytest.raises(websockets.InvalidStatus) as wrong_origin:
        async with connect(
            ws_url(daphne, run),
            origin="http://evil.example",
            additional_headers={"Cookie": f"sessionid={owner_cookie}"},
        ):
            pass
    with pytest.raises(websockets.InvalidStatus) as not_theirs:
        async with connect(
            ws_url(daphne, run),
            origin=f"http://127.0.0.1:{daphne}",
            additional_headers={"Cookie": f"sessionid={outsider_cookie}"},
        ):
            pass

    assert wrong_origin.value.response.status_code == 403
    assert not_theirs.value.response.status_code == 403


async def ticket_for(port, user) -> str:
    access = (await sync_to_async(token_pair_for)(user))["access"]
    async with httpx.AsyncClient(timeout=60) as client:  # first request warms daphne up
        response = await client.post(
            f"http://127.0.0.1:{port}/api/auth/ws-ticket",
            headers={"Authorization": f"Bearer {access}"},
        )
    assert response.status_code == 201, response.text
    return response.json()["data"]["ticket"]


@pytest.mark.slow
async def test_it_follows_a_real_run_live_and_resumes_without_gaps(daphne, cluster, owner):
    # the job prints 10 lines, then waits for our signal (not for a clock: on a loaded machine
    # a timed job could end before line 10 reaches the socket), then prints 30 more
    job = await sync_to_async(JobFactory)(
        created_by=owner,
        timeout_seconds=120,
        script=(
            "trap 'go=1' USR1\n"
            'for i in $(seq 1 10); do echo "line $i"; done\n'
            'until [ -n "$go" ]; do sleep 0.05; done\n'
            'for i in $(seq 11 40); do echo "line $i"; sleep 0.02; done'
        ),
    )
    run, _ = await sync_to_async(run_enqueue)(job=job, trigger_type="manual")
    origin = f"http://127.0.0.1:{daphne}"

    async with connect(
        ws_url(daphne, run, ticket=await ticket_for(daphne, owner)), origin=origin
    ) as ws:
        first, _ = await collect(ws, until=lambda m: m.get("content") == "line 10", timeout=60)
        running = await sync_to_async(Run.objects.get)(pk=run.pk)
    k = numbers(first)[-1]
    async with connect(
        ws_url(daphne, run, after=k, ticket=await ticket_for(daphne, owner)), origin=origin
    ) as ws:
        os.kill(running.pid, signal.SIGUSR1)  # the job's shell: go on
        rest, code = await collect(ws, timeout=60)

    await sync_to_async(run.refresh_from_db)()
    stored = await sync_to_async(run_log_lines)(run=run, limit=10_000)
    streamed = [m for m in first + rest if m["type"] == "log"]
    assert running.status == RunStatus.RUNNING  # lines arrived while the job was still running
    assert [m["lineNumber"] for m in streamed] == [line.number for line in stored]
    assert [m["content"] for m in streamed] == [line.content for line in stored]
    assert [f"line {n}" for n in range(1, 41)] == [
        m["content"] for m in streamed if m["content"].startswith("line ")
    ]
    assert rest[-1]["type"] == "status" and rest[-1]["status"] == "success"
    assert run.status == RunStatus.SUCCESS
    assert code == 1000


@pytest.mark.slow
async def test_it_survives_a_killed_worker_and_resumes_exactly_after_k(daphne, processes, owner):
    """C8: kill -9 the whole cluster mid-stream; a new cluster's reconciler ends the run; the
    open socket gets the rest and the final status; after=k replays exactly k+1..end."""
    from tests.support.processes import child_env

    fast = child_env(
        TASKFLOW_STALE_AFTER_SECONDS="3",
        TASKFLOW_RECONCILE_SECONDS="1",
        TASKFLOW_HEARTBEAT_SECONDS="0.5",
    )
    first_cluster = processes.manage("qcluster-1", "qcluster", env=fast)
    job = await sync_to_async(JobFactory)(
        created_by=owner,
        script='for i in $(seq 1 600); do echo "line $i"; sleep 0.05; done',
    )
    run, _ = await sync_to_async(run_enqueue)(job=job, trigger_type="manual")
    origin = f"http://127.0.0.1:{daphne}"

    async with connect(
        ws_url(daphne, run, ticket=await ticket_for(daphne, owner)), origin=origin
    ) as ws:
        before, _ = await collect(ws, until=lambda m: m.get("content") == "line 20", timeout=90)
        await asyncio.sleep(1)  # lines up to here were emitted >= 1 s before the kill
        os.killpg(first_cluster.pid, signal.SIGKILL)
        first_cluster.wait()
        processes.manage("qcluster-2", "qcluster", env=fast)
        after, code = await collect(ws, timeout=90)

    stored = await sync_to_async(run_log_lines)(run=run, limit=100_000)
    await sync_to_async(run.refresh_from_db)()
    streamed = [m for m in before + after if m["type"] == "log"]
    assert run.status == RunStatus.FAILURE
    assert after[-1]["type"] == "status" and after[-1]["status"] == "failure"
    assert code == 1000
    assert [line.number for line in stored] == list(range(1, len(stored) + 1))
    assert [m["lineNumber"] for m in streamed] == [line.number for line in stored]
    outputs = [line.content for line in stored if line.content.startswith("line ")]
    assert outputs == [f"line {n}" for n in range(1, len(outputs) + 1)]
    assert len(outputs) >= 20

    k = streamed[len(streamed) // 2]["lineNumber"]
    async with connect(
        ws_url(daphne, run, after=k, ticket=await ticket_for(daphne, owner)), origin=origin
    ) as ws:
        replay, _ = await collect(ws)
    assert numbers(replay) == [line.number for line in stored if line.number > k]
