"""Retries: only failures, delays with backoff and cap, exit-code filter, one row per attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runs.models import Run, RunStatus, TriggerType
from runs.spec import RetryPolicy
from tests.factories import JobFactory
from tests.runs.helpers import execute, run_job


def test_it_computes_fixed_and_exponential_delays_with_a_cap():
    fixed = RetryPolicy(delay_seconds=10, backoff=False)
    assert [fixed.delay(n) for n in (1, 2, 3)] == [10, 10, 10]
    expo = RetryPolicy(delay_seconds=10, backoff=True, backoff_max_seconds=35)
    assert [expo.delay(n) for n in (1, 2, 3, 4)] == [10, 20, 35, 35]


@pytest.mark.django_db
def test_it_queues_each_retry_as_its_own_run_linked_to_the_first():
    job = JobFactory(script="exit 1", retry_count=2, retry_delay_seconds=0)
    first = run_job(job)
    assert first.status == RunStatus.FAILURE
    second = Run.objects.get(parent=first)
    assert second.attempt == 2
    assert second.trigger_type == TriggerType.RETRY
    assert second.status == RunStatus.PENDING
    second = execute(second)
    third = Run.objects.get(attempt=3)
    assert third.parent_id == first.pk
    third = execute(third)
    assert "(attempt 3/3)" in third.log_chunks.first().data
    assert Run.objects.filter(job=job).count() == 3  # no fourth attempt


@pytest.mark.django_db
def test_it_delays_the_retry():
    job = JobFactory(script="exit 1", retry_count=1, retry_delay_seconds=30)
    first = run_job(job)
    retry = Run.objects.get(parent=first)
    assert retry.available_at >= first.finished_at + timedelta(seconds=29)


@pytest.mark.django_db
def test_it_retries_only_listed_exit_codes():
    job = JobFactory(script="exit 3", retry_count=1, retry_exit_codes=[75])
    run_job(job)
    assert Run.objects.filter(job=job).count() == 1
    job = JobFactory(script="exit 75", retry_count=1, retry_exit_codes=[75])
    run_job(job)
    assert Run.objects.filter(job=job).count() == 2


@pytest.mark.django_db
def test_it_never_retries_success_or_timeout():
    run_job(JobFactory(script="true", retry_count=2))
    run_job(JobFactory(script="sleep 5", timeout_seconds=1, retry_count=2))
    assert not Run.objects.filter(attempt__gt=1).exists()
