"""/ws/dashboard: status changes of visible runs, nothing of other users'."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from runs.models import Run, RunStatus
from tests.factories import JobFactory, RunFactory
from tests.live.conftest import communicator

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_streams_status_changes_of_the_users_own_runs(owner, outsider, owner_session):
    mine = await database_sync_to_async(JobFactory)(created_by=owner, name="mine")
    theirs = await database_sync_to_async(JobFactory)(created_by=outsider)
    comm = communicator("/ws/dashboard", session=owner_session)
    assert (await comm.connect())[0]

    await database_sync_to_async(RunFactory)(job=theirs, status=RunStatus.PENDING)
    run = await database_sync_to_async(RunFactory)(job=mine, status=RunStatus.PENDING)
    created = json.loads(await comm.receive_from(5))
    await database_sync_to_async(Run.objects.filter(pk=run.pk).update)(
        status=RunStatus.SUCCESS, exit_code=0, duration_ms=10, finished_at=timezone.now()
    )
    done = json.loads(await comm.receive_from(5))

    assert (created["runId"], created["status"], created["jobName"]) == (
        str(run.id),
        "pending",
        "mine",
    )
    assert (done["type"], done["status"], done["exitCode"], done["duration"]) == (
        "status",
        "success",
        0,
        10,
    )
    assert await comm.receive_nothing(0.5)
    await comm.disconnect()


async def test_it_refuses_anonymous_dashboards():
    comm = communicator("/ws/dashboard")

    connected, _ = await comm.connect()

    assert not connected
