"""C4: while one viewer streams a flood, another run's live lines stay prompt."""

from __future__ import annotations

import json
import time

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from runs.models import RunStatus
from tests.factories import JobFactory, RunFactory
from tests.live.conftest import add_lines, communicator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def flooded_run(owner):
    run = RunFactory(
        job=JobFactory(created_by=owner), status=RunStatus.RUNNING, started_at=timezone.now()
    )
    text = "y" * 100
    for first in range(1, 100_001, 2000):
        add_lines(run, first, [text] * 2000)
    return run


async def test_it_keeps_other_viewers_prompt_during_a_flood(owner, owner_session, flooded_run):
    quiet = await database_sync_to_async(RunFactory)(
        job=await database_sync_to_async(JobFactory)(created_by=owner),
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
    )
    flood = communicator(f"/api/runs/{flooded_run.id}/logs/live", session=owner_session)
    watcher = communicator(f"/api/runs/{quiet.id}/logs/live", session=owner_session)
    assert (await flood.connect())[0]
    assert (await watcher.connect())[0]
    assert json.loads(await watcher.receive_from(5))["status"] == "running"
    first_frame = json.loads(await flood.receive_from(5))  # the flood is under way
    assert first_frame["type"] in {"status", "log"}

    await database_sync_to_async(add_lines)(quiet, 1, ["still here"])
    started = time.monotonic()
    message = json.loads(await watcher.receive_from(5))
    delay = time.monotonic() - started

    assert message["content"] == "still here"
    assert delay < 1.0
    await flood.disconnect()
    await watcher.disconnect()
