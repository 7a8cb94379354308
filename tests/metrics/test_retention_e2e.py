"""D5 (scaled down): a pruneruns process killed with SIGKILL part-way leaves a consistent
database, and the next pass deletes the rest; recent and running runs are untouched."""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from metrics.models import MetricAggregate
from runs.models import LogChunk, Run, RunStatus
from tests.factories import JobFactory, RunFactory
from tests.support.processes import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def seed(job, *, runs: int, chunks: int, days_old: int, status=RunStatus.SUCCESS) -> list:
    at = timezone.now() - timedelta(days=days_old)
    made = [RunFactory(job=job, status=status, finished_at=at) for _ in range(runs)]
    Run.objects.filter(pk__in=[run.pk for run in made]).update(created_at=at)
    with transaction.atomic(), connection.cursor() as cursor:
        for run in made:
            cursor.executemany(
                f"INSERT INTO {LogChunk._meta.db_table} "
                "(run_id, first_line, last_line, created_at, data) VALUES (%s, %s, %s, %s, %s)",
                [
                    (
                        Run._meta.pk.get_db_prep_value(run.pk, connection),
                        n,
                        n,
                        at,
                        "o0\t" + "z" * 200,
                    )
                    for n in range(1, chunks + 1)
                ],
            )
    return made


def test_it_finishes_after_a_kill_9_and_spares_recent_and_running_runs(processes):
    job = JobFactory()
    seed(job, runs=300, chunks=100, days_old=45)
    recent = seed(job, runs=5, chunks=10, days_old=2)
    running = seed(job, runs=1, chunks=10, days_old=45, status=RunStatus.RUNNING)
    aggregate = MetricAggregate.objects.create(
        job=job, period_type="daily", period_start=timezone.now() - timedelta(days=45)
    )
    initial = LogChunk.objects.count()

    first = processes.manage("prune-1", "pruneruns", "--days", "30")
    wait_for(
        lambda: first.poll() is not None or LogChunk.objects.count() <= initial * 2 / 3,
        timeout=120,
        interval=0.01,
    )
    assert first.poll() is None, "the first pass finished before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    left_after_kill = LogChunk.objects.count()

    second = processes.manage("prune-2", "pruneruns", "--days", "30")
    assert second.wait(120) == 0

    assert 100 < left_after_kill < initial
    assert set(Run.objects.values_list("pk", flat=True)) == {run.pk for run in [*recent, *running]}
    assert LogChunk.objects.count() == 5 * 10 + 10
    assert MetricAggregate.objects.filter(pk=aggregate.pk).exists()
    assert "deleted" in processes.log_text("prune-2")
