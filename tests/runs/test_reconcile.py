"""The cluster's engine steps without a cluster: reconcile (lost runs, dead drains),
dispatch (keep drain loops delivered) and wake-ups."""

from __future__ import annotations

import os
import select
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from runs.engine.reconciler import Dispatcher, reconcile_step
from runs.engine.wake import WakeSocket, wake_dir, wake_workers
from runs.models import Run, RunStatus, WorkerHeartbeat
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db

HOST = socket.gethostname()


def test_it_fails_a_run_with_a_stale_heartbeat_and_queues_its_retry():
    job = JobFactory(retry_count=1, retry_delay_seconds=0)
    old = timezone.now() - timedelta(minutes=5)
    run = RunFactory(
        job=job,
        status=RunStatus.RUNNING,
        worker="elsewhere:1",
        heartbeat_at=old,
        started_at=old,
        spec={"kind": "shell", "script": "true", "retry": {"count": 1, "delay_seconds": 0}},
    )
    assert reconcile_step()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILURE
    assert run.error_message == "worker lost"
    retry = Run.objects.get(parent=run)
    assert (retry.status, retry.attempt) == (RunStatus.PENDING, 2)


def test_it_fails_a_run_at_once_when_its_local_worker_process_is_gone():
    run = RunFactory(status=RunStatus.RUNNING, worker=f"{HOST}:999999", heartbeat_at=timezone.now())
    reconcile_step()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILURE


def test_it_leaves_a_healthy_run_alone():
    run = RunFactory(
        status=RunStatus.RUNNING, worker=f"{HOST}:{os.getpid()}", heartbeat_at=timezone.now()
    )
    reconcile_step()
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_it_forgets_heartbeats_of_dead_drains():
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        name=f"worker@{HOST}:999999",
        role="worker",
        hostname=HOST,
        pid=999999,
        started_at=now,
        heartbeat_at=now,
    )
    reconcile_step()
    assert not WorkerHeartbeat.objects.exists()


def _beat(**fields):
    now = timezone.now()
    return WorkerHeartbeat.objects.create(
        name=f"worker@{HOST}:{os.getpid()}",
        role="worker",
        hostname=HOST,
        pid=os.getpid(),
        started_at=now,
        heartbeat_at=now,
        **fields,
    )


def test_it_delivers_a_drain_when_none_is_alive():
    from django_q.models import OrmQ

    assert Dispatcher()()
    assert OrmQ.objects.count() == 1
    assert not Dispatcher()()  # one is waiting in the broker already


def test_it_counts_live_drains_but_not_retired_idle_ones():
    dispatcher = Dispatcher()
    beat = _beat()
    assert dispatcher.live() == 1
    beat.retired_at = timezone.now()
    beat.save()
    assert dispatcher.live() == 0
    RunFactory(status=RunStatus.RUNNING, worker=f"{HOST}:{os.getpid()}")
    assert dispatcher.live() == 1  # retired but still executing: its successor waits


def test_it_wakes_a_lingering_drain_and_cleans_dead_sockets():
    stale = wake_dir() / "drain-0-dead.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(stale))
    dead.close()
    wake = WakeSocket()
    try:
        assert wake_workers() >= 1
        assert select.select([wake], [], [], 1)[0]
        wake.drain()
        assert not select.select([wake], [], [], 0)[0]
        assert not stale.exists()
    finally:
        wake.close()
