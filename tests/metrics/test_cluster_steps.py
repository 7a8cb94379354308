"""The cluster runs rollups after each hour and retention after midnight, in slices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from metrics import retention, steps
from metrics.models import MetricAggregate
from metrics.steps import RetentionJob, next_midnight
from runs.management.commands.qcluster import cluster_steps
from runs.models import Run, RunStatus
from tests.factories import JobFactory, RunFactory
from tests.metrics.test_retention import aged_run

pytestmark = pytest.mark.django_db


def test_it_registers_rollups_and_retention_in_the_cluster_loop():
    names = [step.name for step in cluster_steps()]

    assert "rollups" in names
    assert "retention" in names
    assert "audit-retention" in names


def test_it_schedules_retention_after_midnight_utc_unless_work_is_left(monkeypatch):
    job = RetentionJob()
    at = datetime(2026, 3, 1, 23, 59, tzinfo=UTC).timestamp()
    assert next_midnight(at) == datetime(2026, 3, 2, 0, 0, 30, tzinfo=UTC).timestamp()

    monkeypatch.setattr(retention, "RUNS_PER_BATCH", 1)
    monkeypatch.setattr(steps, "RETENTION_SLICE_SECONDS", 0)
    jobs = JobFactory()
    aged_run(jobs, RunStatus.SUCCESS, 40)
    aged_run(jobs, RunStatus.SUCCESS, 40)

    assert job.run(at) is True
    assert job.next_at(at) == at + steps.RETENTION_GAP_SECONDS
    job.run(at)
    job.run(at)
    assert Run.objects.count() == 0
    assert job.next_at(at) == next_midnight(at)


def test_it_backfills_from_the_rollupmetrics_command(capsys):
    job = JobFactory()
    at = datetime.now(UTC) - timedelta(days=3)
    RunFactory(job=job, status=RunStatus.SUCCESS, finished_at=at, duration_ms=5)

    call_command("rollupmetrics", "--from", (at - timedelta(days=1)).date().isoformat())
    call_command("rollupmetrics", "--from", (at - timedelta(days=1)).date().isoformat())

    assert MetricAggregate.objects.filter(job=job, period_type="daily").count() == 1
    assert MetricAggregate.objects.filter(job=job, period_type="hourly").count() == 1
    assert "daily:" in capsys.readouterr().out
