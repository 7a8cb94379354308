"""run_enqueue_many (the tick's batched enqueue) decides exactly as run_enqueue, item by item:
existing slots, overlap skip, the queue bound, the spec snapshot, skipped rows with a line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs.models import Run, RunStatus, TriggerType
from runs.services import run_enqueue, run_enqueue_many, run_log_lines
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

SLOT = timezone.now().replace(second=0, microsecond=0)


def _item(job, minutes=0, trigger=TriggerType.SCHEDULED):
    return {"job": job, "trigger_type": trigger, "scheduled_for": SLOT + timedelta(minutes=minutes)}


def test_it_queues_one_run_per_slot_with_the_job_snapshotted():
    job = JobFactory(script="echo hi", priority=3)
    [(run, created)] = run_enqueue_many(items=[_item(job)])
    assert created
    run.refresh_from_db()
    assert (run.status, run.priority, run.spec["script"]) == (RunStatus.PENDING, 3, "echo hi")
    assert run.scheduled_for == SLOT


def test_it_returns_the_existing_run_of_a_slot_with_created_false():
    job = JobFactory()
    first, _ = run_enqueue(job=job, trigger_type=TriggerType.SCHEDULED, scheduled_for=SLOT)
    [(run, created)] = run_enqueue_many(items=[_item(job)])
    assert (run.pk, created) == (first.pk, False)
    assert Run.objects.filter(job=job).count() == 1


def test_it_skips_the_second_slot_of_a_skip_policy_job_in_the_same_batch():
    job = JobFactory(overlap_policy="skip")
    results = run_enqueue_many(items=[_item(job, 0), _item(job, 1)])
    statuses = [Run.objects.get(pk=run.pk).status for run, _ in results]
    assert statuses == [RunStatus.PENDING, RunStatus.SKIPPED]
    skipped = Run.objects.get(pk=results[1][0].pk)
    assert "still pending or running" in skipped.error_message
    assert skipped.finished_at is not None
    [line] = run_log_lines(run=skipped)
    assert (line.stream, line.content) == ("system", skipped.error_message)


def test_it_applies_the_queue_bound_counting_runs_queued_earlier_in_the_batch():
    job = JobFactory(max_queued=2)
    run_enqueue(job=job, trigger_type=TriggerType.MANUAL)
    results = run_enqueue_many(items=[_item(job, 0), _item(job, 1)])
    statuses = [Run.objects.get(pk=run.pk).status for run, _ in results]
    assert statuses == [RunStatus.PENDING, RunStatus.SKIPPED]
    assert "queue full (2 runs" in Run.objects.get(pk=results[1][0].pk).error_message


def test_it_costs_a_fixed_number_of_queries_whatever_the_number_of_jobs():
    jobs = [JobFactory() for _ in range(10)]
    with CaptureQueriesContext(connection) as few:
        run_enqueue_many(items=[_item(jobs[0])])
    with CaptureQueriesContext(connection) as many:
        run_enqueue_many(items=[_item(job, 1) for job in jobs])
    assert len(many) == len(few)
    assert Run.objects.filter(status=RunStatus.PENDING).count() == 11
