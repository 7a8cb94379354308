"""The overlap admission rule (runs.admission) is written once: enqueue asks it, and the claim's
SQL (and PostgreSQL's job lock) agree with it in every situation, on either database."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection, transaction
from django.utils import timezone

from runs.admission import may_start, skip_reason
from runs.engine.claim import _claim_candidates, _lock_job
from runs.models import RunStatus
from runs.services import run_enqueue
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db

BOUND = 2
# (policy, another run of the job running?, how many of its runs already pending)
SITUATIONS = list(itertools.product(["allow", "queue", "skip"], [False, True], [0, 1, BOUND]))


def _claimable(run) -> dict[str, bool]:
    """What the claim's SQL (and, on PostgreSQL, its job lock) says about a pending run."""
    with transaction.atomic():
        found = {candidate.pk for candidate in _claim_candidates(timezone.now(), 100)}
        says = {"sql": run.pk in found}
        if connection.vendor == "postgresql" and run.job_id is not None:
            says["lock"] = _lock_job(run)
    return says


@pytest.mark.parametrize(("policy", "running", "pending"), SITUATIONS)
def test_enqueue_and_claim_agree_with_the_rule(policy, running, pending):
    job = JobFactory(overlap_policy=policy, max_queued=BOUND)
    if running:
        RunFactory(job=job, status=RunStatus.RUNNING)
    for _ in range(pending):
        RunFactory(job=job, status=RunStatus.PENDING)

    # queued or skipped: as skip_reason says for this situation
    expected = skip_reason(job, busy=running or pending > 0, pending=pending)
    run, created = run_enqueue(job=job, trigger_type="manual")
    assert created
    assert run.status == (RunStatus.SKIPPED if expected else RunStatus.PENDING)
    assert run.error_message == (expected or "")

    # may a pending run of it start: as may_start says, whatever the queue holds
    candidate = run if run.status == RunStatus.PENDING else RunFactory(job=job)
    rule = may_start(policy, running=running)
    says = _claimable(candidate)
    assert set(says.values()) == {rule}, says


def test_a_task_without_a_job_always_may_start():
    RunFactory(job=None, status=RunStatus.RUNNING)
    task = RunFactory(job=None)
    assert may_start(None, running=True)
    assert _claimable(task) == {"sql": True}


def test_the_situations_cover_every_answer():
    """The table above is not vacuous: each rule answers both ways somewhere in it."""
    starts = {may_start(policy, running=running) for policy, running, _ in SITUATIONS}
    assert starts == {True, False}
    job = JobFactory.build(overlap_policy="queue", max_queued=BOUND)
    assert skip_reason(job, busy=True, pending=BOUND) and not skip_reason(job, busy=True, pending=1)
