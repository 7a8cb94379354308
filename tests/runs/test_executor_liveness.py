"""A run whose executor is alive is never reconciled as lost, however stale its heartbeat:
the executing process holds a lock for its life, names in it the runs it holds until their
final commits, and the reconciler asks it."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from runs.engine.heartbeats import executor_holds, executor_lock
from runs.engine.reconciler import reconcile_step
from runs.models import RunStatus
from tests.factories import RunFactory
from tests.runs.helpers import lines, run_script

pytestmark = pytest.mark.django_db

HOST = socket.gethostname()
WORKER = f"{HOST}:{os.getpid()}"


def _stale_run(**fields):
    old = timezone.now() - timedelta(seconds=settings.TASKFLOW["STALE_AFTER_SECONDS"] + 5)
    return RunFactory(
        status=RunStatus.RUNNING,
        worker=WORKER,
        heartbeat_at=old,
        started_at=old,
        spec={"kind": "shell", "script": "true", "timeout_seconds": 60},
        **fields,
    )


def test_it_leaves_a_stale_run_alone_while_its_local_executor_holds_it():
    run = _stale_run()
    lock = executor_lock(WORKER)
    lock.mark(run.pk)
    try:
        reconcile_step()
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING
    finally:
        lock.mark(None)
    reconcile_step()  # the process lives on, but it executes nothing: the run is lost
    run.refresh_from_db()
    assert (run.status, run.error_message) == (RunStatus.FAILURE, "worker lost")


def test_it_reconciles_a_held_run_once_it_is_stale_past_its_timeout():
    run = _stale_run()
    old = timezone.now() - timedelta(seconds=60 + settings.TASKFLOW["KILL_GRACE_SECONDS"] + 60)
    type(run).objects.filter(pk=run.pk).update(heartbeat_at=old)
    lock = executor_lock(WORKER)
    lock.mark(run.pk)
    try:
        reconcile_step()
    finally:
        lock.mark(None)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILURE


def test_it_leaves_both_runs_alone_while_the_executor_holds_two():
    """A drain holds the run it executes and the previous one until that one's final commit
    (made once the next has started): the lock names both."""
    finishing, executing = _stale_run(), _stale_run()
    lock = executor_lock(WORKER)
    lock.mark(executing.pk, finishing.pk)
    try:
        reconcile_step()
    finally:
        lock.mark(None)
    for run in (finishing, executing):
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING


def test_it_does_not_trust_a_lock_that_names_another_run():
    run = _stale_run()
    other = _stale_run()
    lock = executor_lock(WORKER)
    lock.mark(other.pk)
    try:
        reconcile_step()
    finally:
        lock.mark(None)
    run.refresh_from_db()
    assert (run.status, run.error_message) == (RunStatus.FAILURE, "worker lost")


@pytest.mark.django_db(transaction=True)
def test_it_holds_the_lock_while_the_script_runs_and_lets_go_of_the_run_after_the_finish():
    path = executor_lock(WORKER).path
    run = run_script(f'flock -n "{path}" true; echo "free=$?"; echo $(cat "{path}")')
    assert run.status == RunStatus.SUCCESS
    # held by this (the executing) process, naming the run
    assert lines(run, "stdout") == ["free=1", str(run.pk)]
    assert not executor_holds(WORKER, run.pk)
    assert executor_lock(WORKER).path == path  # one file for the process, not one per run
