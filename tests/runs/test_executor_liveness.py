"""A run whose executor is alive is never reconciled as lost, however stale its heartbeat:
the executor holds a lock from the claim to the final commit and the reconciler asks it."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from runs.engine.executor import executor_lock
from runs.engine.reconciler import reconcile_step
from runs.models import RunStatus
from tests.factories import RunFactory
from tests.runs.helpers import lines, run_script

pytestmark = pytest.mark.django_db

HOST = socket.gethostname()


def _stale_run(**fields):
    old = timezone.now() - timedelta(seconds=settings.TASKFLOW["STALE_AFTER_SECONDS"] + 5)
    return RunFactory(
        status=RunStatus.RUNNING,
        worker=f"{HOST}:{os.getpid()}",
        heartbeat_at=old,
        started_at=old,
        spec={"kind": "shell", "script": "true", "timeout_seconds": 60},
        **fields,
    )


def test_it_leaves_a_stale_run_alone_while_its_local_executor_holds_it():
    run = _stale_run()
    lock = executor_lock(run.pk)
    lock.acquire()
    try:
        reconcile_step()
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING
    finally:
        lock.release()
    reconcile_step()
    run.refresh_from_db()
    assert (run.status, run.error_message) == (RunStatus.FAILURE, "worker lost")


def test_it_reconciles_a_held_run_once_it_is_stale_past_its_timeout():
    run = _stale_run()
    old = timezone.now() - timedelta(seconds=60 + settings.TASKFLOW["KILL_GRACE_SECONDS"] + 60)
    type(run).objects.filter(pk=run.pk).update(heartbeat_at=old)
    lock = executor_lock(run.pk)
    lock.acquire()
    try:
        reconcile_step()
    finally:
        lock.release()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILURE


@pytest.mark.django_db(transaction=True)
def test_it_holds_the_lock_while_the_script_runs_and_releases_it_after_the_finish():
    path = os.path.join(settings.DATA_DIR, "running", "run-$TASKFLOW_RUN_ID.lock")
    run = run_script(f'flock -n "{path}" true; echo "free=$?"')
    assert run.status == RunStatus.SUCCESS
    assert "free=1" in lines(run, "stdout")  # held by the executor (flock -n failed)
    assert not executor_lock(run.pk).held()
