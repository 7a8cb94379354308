"""run_cancel and run_rerun."""

from __future__ import annotations

import pytest

from runs.models import RunStatus
from runs.services import run_cancel, run_enqueue, run_rerun
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db


def test_it_cancels_a_pending_run_at_once(owner):
    run, _ = run_enqueue(job=JobFactory(created_by=owner), trigger_type="manual")
    cancelled = run_cancel(run=run, by=owner)
    assert cancelled.status == RunStatus.CANCELLED
    assert cancelled.finished_at is not None
    assert "cancelled by owner" in cancelled.error_message


def test_it_asks_the_executor_to_cancel_a_running_run():
    run = RunFactory(status=RunStatus.RUNNING)
    cancelled = run_cancel(run=run)
    assert cancelled.status == RunStatus.RUNNING
    assert cancelled.cancel_requested_at is not None


def test_it_is_idempotent():
    run = RunFactory(status=RunStatus.RUNNING)
    first = run_cancel(run=run).cancel_requested_at
    assert run_cancel(run=run).cancel_requested_at == first
    done = RunFactory(status=RunStatus.SUCCESS)
    assert run_cancel(run=done).status == RunStatus.SUCCESS
    assert done.cancel_requested_at is None


def test_it_reruns_the_same_job(owner):
    job = JobFactory(created_by=owner)
    run, _ = run_enqueue(job=job, trigger_type="scheduled")
    again, created = run_rerun(run=run, by=owner)
    assert created
    assert again.pk != run.pk
    assert again.job_id == job.pk
    assert again.trigger_type == "manual"
    assert again.triggered_by == owner
