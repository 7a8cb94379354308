"""run_enqueue / run_enqueue_task: spec snapshot, idempotency, slots, overlap and queue bound."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from jobs.serializers import task_job
from runs.models import RunStatus, TriggerType
from runs.services import run_enqueue, run_enqueue_task, run_log_lines
from runs.spec import RunSpec
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_it_snapshots_the_job_into_the_spec_and_copies_priority():
    job = JobFactory(
        script="echo hi",
        priority=7,
        env_vars={"A": "1"},
        secret_env_vars={"TOKEN": "xyz"},
        retry_count=2,
        timeout_seconds=30,
    )
    run, created = run_enqueue(job=job, trigger_type=TriggerType.MANUAL)
    assert created
    assert run.status == RunStatus.PENDING
    assert run.priority == 7
    assert run.spec["kind"] == "shell"
    assert run.spec["script"] == "echo hi"
    assert run.spec["env"] == {"A": "1"}
    assert run.spec["secret_refs"] == ["TOKEN"]  # a reference: the value stays with the job
    assert "xyz" not in str(run.spec)
    assert run.spec["timeout_seconds"] == 30
    assert run.spec["retry"]["count"] == 2
    job.script = "echo changed"
    job.save()
    run.refresh_from_db()
    assert run.spec["script"] == "echo hi"


def test_it_returns_the_existing_run_for_a_used_idempotency_key():
    job = JobFactory()
    first, created = run_enqueue(job=job, trigger_type="manual", idempotency_key="k-1")
    again, created_again = run_enqueue(job=job, trigger_type="manual", idempotency_key="k-1")
    assert created and not created_again
    assert again.pk == first.pk


def test_it_returns_the_existing_run_for_the_same_slot():
    job = JobFactory()
    slot = timezone.now().replace(second=0, microsecond=0)
    first, _ = run_enqueue(job=job, trigger_type="scheduled", scheduled_for=slot)
    again, created = run_enqueue(job=job, trigger_type="scheduled", scheduled_for=slot)
    assert not created
    assert again.pk == first.pk


def test_it_records_a_skipped_run_when_overlap_policy_is_skip():
    job = JobFactory(overlap_policy="skip")
    run_enqueue(job=job, trigger_type="manual")
    skipped, created = run_enqueue(job=job, trigger_type="manual")
    assert created
    assert skipped.status == RunStatus.SKIPPED
    assert "still pending or running" in skipped.error_message
    assert skipped.finished_at is not None
    assert run_log_lines(run=skipped)[0].stream == "system"


def test_it_bounds_the_queue_of_a_job():
    job = JobFactory(overlap_policy="queue", max_queued=2)
    statuses = [run_enqueue(job=job, trigger_type="manual")[0].status for _ in range(3)]
    assert statuses == [RunStatus.PENDING, RunStatus.PENDING, RunStatus.SKIPPED]


def test_it_queues_an_ad_hoc_task_with_defaults():
    job = task_job("shell", {"command": "echo", "args": ["x"]})
    run, created = run_enqueue_task(spec=RunSpec.from_job(job), priority=3)
    assert created
    assert run.job is None
    assert run.trigger_type == TriggerType.API
    assert run.priority == 3
    assert run.spec["argv"] == ["echo", "x"]
    assert run.spec["working_dir"] == "/tmp"
    assert run.spec["retry"]["count"] == 0


def test_it_refuses_an_unusable_task_by_the_job_rules():
    with pytest.raises(ValidationError) as caught:
        task_job("shell", {"command": "  "})
    assert "command" in caught.value.detail["payload"]
    with pytest.raises(ValidationError) as caught:
        task_job("http", {"url": "ftp://example.com/x", "timeout": 0})
    assert set(caught.value.detail["payload"]) == {"url", "timeout"}


def test_it_dedupes_ad_hoc_tasks_by_idempotency_key():
    first, _ = run_enqueue_task(spec=RunSpec(kind="shell", script="true"), idempotency_key="u-1")
    again, created = run_enqueue_task(
        spec=RunSpec(kind="shell", script="false"), idempotency_key="u-1"
    )
    assert not created
    assert again.pk == first.pk
