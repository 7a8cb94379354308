"""Retention: old finished runs and their logs/samples go in batches; recent, pending and
running runs and all aggregates stay; an interrupted pass completes on the next one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from metrics import retention
from metrics.models import MetricAggregate, MetricSample
from metrics.retention import retention_prune
from runs.models import LogChunk, Run, RunStatus
from tests.factories import JobFactory, RunFactory
from tests.live.conftest import add_lines

pytestmark = pytest.mark.django_db


def aged_run(job, status, days_old, *, lines=3, samples=2, **extra):
    at = timezone.now() - timedelta(days=days_old)
    finished_at = None if status in (RunStatus.PENDING, RunStatus.RUNNING) else at
    run = RunFactory(job=job, status=status, finished_at=finished_at, **extra)
    Run.objects.filter(pk=run.pk).update(created_at=at)  # auto_now_add: set afterwards
    for first in range(1, lines + 1):
        add_lines(run, first, [f"line {first}"])
    MetricSample.objects.bulk_create(
        MetricSample(run=run, timestamp=at, cpu_percent=1, memory_bytes=1, memory_percent=1)
        for _ in range(samples)
    )
    return run


def test_it_deletes_old_finished_runs_with_their_logs_and_samples_only():
    job = JobFactory()
    old = [aged_run(job, RunStatus.SUCCESS, 40), aged_run(job, RunStatus.FAILURE, 31)]
    recent = aged_run(job, RunStatus.SUCCESS, 29)
    old_running = aged_run(job, RunStatus.RUNNING, 40)
    old_pending = aged_run(job, RunStatus.PENDING, 40)
    aggregate = MetricAggregate.objects.create(
        job=job, period_type="daily", period_start=timezone.now() - timedelta(days=40), run_count=2
    )

    result = retention_prune(days=30)

    assert (result.runs, result.log_lines, result.log_chunks, result.samples) == (2, 6, 6, 4)
    assert result.done
    left = set(Run.objects.values_list("id", flat=True))
    assert left == {recent.id, old_running.id, old_pending.id}
    assert not LogChunk.objects.filter(run_id__in=[r.id for r in old]).exists()
    assert LogChunk.objects.filter(run=old_running).count() == 3
    assert MetricSample.objects.count() == 6
    assert MetricAggregate.objects.filter(pk=aggregate.pk).exists()


def test_it_keeps_an_old_run_whose_retry_is_recent_or_active():
    job = JobFactory()
    parent = aged_run(job, RunStatus.FAILURE, 40)
    aged_run(job, RunStatus.RUNNING, 40, parent=parent, attempt=2)

    assert retention_prune(days=30).runs == 0
    assert Run.objects.filter(pk=parent.pk).exists()


def test_it_works_in_small_batches_and_finishes_after_an_interruption(monkeypatch):
    monkeypatch.setattr(retention, "RUNS_PER_BATCH", 2)
    monkeypatch.setattr(retention, "ROWS_PER_DELETE", 2)
    job = JobFactory()
    for _ in range(5):
        aged_run(job, RunStatus.SUCCESS, 40, lines=5)

    first = retention_prune(days=30, time_budget=0)  # stops after one DELETE: like a kill
    assert (first.done, first.log_chunks, first.log_lines, first.runs) == (False, 2, 2, 0)
    assert LogChunk.objects.count() == 23

    rest = retention_prune(days=30)
    assert (rest.runs, rest.done, rest.log_lines) == (5, True, 23)
    assert (Run.objects.count(), LogChunk.objects.count(), MetricSample.objects.count()) == (
        0,
        0,
        0,
    )


def test_it_counts_without_deleting_on_a_dry_run(capsys):
    job = JobFactory()
    aged_run(job, RunStatus.SUCCESS, 40)

    call_command("pruneruns", "--dry-run", "--days", "30")

    assert "would delete 1 runs, 3 log lines (3 chunks), 2 samples" in capsys.readouterr().out
    assert Run.objects.count() == 1


def test_it_prunes_from_the_command_with_a_days_override(capsys):
    job = JobFactory()
    aged_run(job, RunStatus.SUCCESS, 10)
    aged_run(job, RunStatus.SUCCESS, 3)

    call_command("pruneruns", "--days", "7")

    assert "deleted 1 runs" in capsys.readouterr().out
    assert Run.objects.count() == 1


def test_it_uses_log_retention_days_by_default(settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "LOG_RETENTION_DAYS": 5}
    job = JobFactory()
    aged_run(job, RunStatus.SUCCESS, 6)
    aged_run(job, RunStatus.SUCCESS, 4)

    assert retention_prune().runs == 1
