"""run_claim: order (priority, then time), availability, overlap per job, exactly once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from runs.engine.claim import _CLAIM_SQL, BudgetExceeded, run_claim, run_finish
from runs.engine.outcome import Outcome
from runs.models import RunStatus
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db


def test_it_claims_by_priority_then_fifo():
    now = timezone.now()
    older = RunFactory(priority=0, available_at=now - timedelta(seconds=10))
    newer = RunFactory(priority=0, available_at=now - timedelta(seconds=5))
    urgent = RunFactory(priority=5, available_at=now - timedelta(seconds=1))
    order = [run_claim(worker="w:1").pk for _ in range(3)]
    assert order == [urgent.pk, older.pk, newer.pk]
    assert run_claim(worker="w:1") is None


def test_it_marks_the_claimed_run_running_for_the_worker():
    RunFactory()
    run = run_claim(worker="host:42")
    assert run.status == RunStatus.RUNNING
    assert run.worker == "host:42"
    assert run.started_at is not None
    assert run.heartbeat_at is not None


def test_it_never_claims_a_run_twice():  # A3 at the queue level
    run = RunFactory()
    assert run_claim(worker="w:1", run_id=run.pk) is not None
    assert run_claim(worker="w:2", run_id=run.pk) is None
    assert run_claim(worker="w:2") is None


def test_it_waits_until_available_at():
    RunFactory(available_at=timezone.now() + timedelta(minutes=5))
    assert run_claim(worker="w:1") is None


def test_it_does_not_start_a_second_run_of_a_busy_job():  # A9 overlap, without the tick
    job = JobFactory(overlap_policy="queue")
    RunFactory(job=job, status=RunStatus.RUNNING)
    queued = RunFactory(job=job)
    other = RunFactory()
    assert run_claim(worker="w:1").pk == other.pk
    assert run_claim(worker="w:1") is None
    queued.refresh_from_db()
    assert queued.status == RunStatus.PENDING


@pytest.mark.skipif("connection.vendor != 'sqlite'")  # PostgreSQL's claim considers all
def test_a_look_ahead_gives_up_behind_a_backlog_of_a_busy_job():
    busy = JobFactory(overlap_policy="queue", max_queued=10)
    RunFactory(job=busy, status=RunStatus.RUNNING)
    now = timezone.now()
    for index in range(3):
        RunFactory(job=busy, available_at=now - timedelta(seconds=10 - index))
    other = RunFactory(available_at=now)  # due, after the backlog in the claim's order
    assert run_claim(worker="w:1", look=3) is None  # not among the first three
    assert run_claim(worker="w:1", look=4).pk == other.pk


def test_it_allows_concurrent_runs_when_the_job_says_so():
    job = JobFactory(overlap_policy="allow")
    RunFactory(job=job, status=RunStatus.RUNNING)
    queued = RunFactory(job=job)
    assert run_claim(worker="w:1").pk == queued.pk


def test_it_refuses_a_run_that_does_not_fit_the_delivery_budget():
    RunFactory(spec={"kind": "shell", "script": "true", "timeout_seconds": 600})
    with pytest.raises(BudgetExceeded):
        run_claim(worker="w:1", budget_seconds=300)
    assert run_claim(worker="w:1", budget_seconds=700) is not None


def test_a_next_run_over_budget_never_undoes_the_finish_that_claimed_it():
    RunFactory(spec={"kind": "shell", "script": "true", "timeout_seconds": 600})
    done = run_claim(worker="w:1", run_id=RunFactory().pk)
    now = time.time()
    outcome = Outcome(
        status=RunStatus.SUCCESS, exit_code=0, error_message="", started=now, finished=now
    )

    finished = run_finish(
        run=done,
        outcome=outcome,
        worker="w:1",
        claim_next={"worker": "w:1", "budget_seconds": 300},
    )

    assert finished.over_budget and finished.next_run is None
    done.refresh_from_db()
    assert (done.status, done.exit_code) == (RunStatus.SUCCESS, 0)


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_the_claim_reads_pending_runs_in_the_claim_index_order_without_a_sort():
    """SQLite's plan of the claim: the claim index in order, no temporary b-tree for the ORDER
    BY (which would sort every pending run on each claim). PostgreSQL: test_claim_postgres."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {_CLAIM_SQL}", [timezone.now().isoformat(), 1])
        plan = [row[-1] for row in cursor.fetchall()]
    assert "SEARCH r USING INDEX run_claim_idx (status=?)" in plan
    assert not [step for step in plan if "TEMP B-TREE" in step]
