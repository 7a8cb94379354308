"""Run counters behind /metrics: exact after runs finish, after folds and rollups, and never
lowered when retention (or anything else) deletes runs; a run that commits late still counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from metrics import counters
from metrics.counters import FIGURES, counters_fold, counters_totals
from metrics.models import RunCounters
from metrics.retention import retention_prune
from metrics.rollups import rollup_recent
from runs.models import Run, RunStatus
from tests.factories import JobFactory, RunFactory
from tests.runs.helpers import run_job

pytestmark = pytest.mark.django_db


def finished(job, status, *, ago: timedelta = timedelta(0), duration_ms: int | None = 1000):
    at = timezone.now() - ago
    run = RunFactory(job=job, status=status, started_at=at, finished_at=at, duration_ms=duration_ms)
    Run.objects.filter(pk=run.pk).update(created_at=at)  # auto_now_add: set afterwards
    return run


def expected(runs) -> dict[str, int]:
    """The figures counted the slow way, from the runs given."""
    figures = dict.fromkeys(FIGURES, 0)
    for run in runs:
        figures[run.status] += 1
        if run.duration_ms is not None:
            figures["timed"] += 1
            figures["sum_ms"] += run.duration_ms
            for name in FIGURES:
                if name.startswith("le_") and run.duration_ms <= float(name[3:]) * 1000:
                    figures[name] += 1
    return figures


def test_finished_runs_count_live_before_any_fold_and_the_same_after_it():
    job = JobFactory()
    runs = [
        finished(job, RunStatus.SUCCESS, duration_ms=50),
        finished(job, RunStatus.SUCCESS, ago=timedelta(days=3), duration_ms=700),
        finished(job, RunStatus.FAILURE, ago=timedelta(minutes=5), duration_ms=20_000),
        finished(job, RunStatus.TIMEOUT, ago=timedelta(hours=2), duration_ms=4_000_000),
        finished(job, RunStatus.SKIPPED, duration_ms=None),
    ]
    RunFactory(job=job, status=RunStatus.RUNNING)
    RunFactory(job=job, status=RunStatus.PENDING)

    assert counters_totals() == expected(runs)
    assert counters_fold()
    assert RunCounters.objects.get().totals == expected(runs)
    assert counters_totals() == expected(runs)

    runs.append(finished(job, RunStatus.CANCELLED, duration_ms=10))  # after the fold: live
    assert counters_totals() == expected(runs)
    assert counters_fold()
    assert counters_totals() == expected(runs)


def test_runs_executed_by_the_engine_are_counted_exactly():
    job = JobFactory(script="exit 3")
    ok = JobFactory(script="true")
    runs = [run_job(ok), run_job(job)]
    counters_fold()
    runs.append(run_job(ok))

    totals = counters_totals()

    assert totals == expected(runs)
    assert (totals["success"], totals["failure"]) == (2, 1)


def test_a_fold_with_nothing_new_writes_nothing():
    job = JobFactory()
    finished(job, RunStatus.SUCCESS)
    assert counters_fold()
    written = RunCounters.objects.get().updated_at

    assert not counters_fold()
    assert not counters_fold(recheck=True)
    assert RunCounters.objects.get().updated_at == written


def test_retention_and_rollups_never_lower_the_counters():
    job = JobFactory()
    runs = [
        finished(job, RunStatus.SUCCESS, ago=timedelta(days=40)),
        finished(job, RunStatus.FAILURE, ago=timedelta(days=35), duration_ms=90_000),
        finished(job, RunStatus.SUCCESS, ago=timedelta(minutes=30)),
    ]
    counters_fold()
    rollup_recent()

    result = retention_prune(days=30)

    assert result.runs == 2
    assert Run.objects.count() == 1
    assert counters_fold(recheck=True) is False
    assert counters_totals() == expected(runs)


def test_deleting_recent_folded_runs_does_not_lower_them_even_when_rechecked():
    job = JobFactory()
    runs = [finished(job, RunStatus.SUCCESS, ago=timedelta(minutes=2)) for _ in range(3)]
    counters_fold()

    Run.objects.filter(pk=runs[0].pk).delete()
    counters_fold(recheck=True)

    assert counters_totals() == expected(runs)


def test_a_run_committed_after_its_minute_was_folded_counts_on_the_recheck():
    job = JobFactory()
    runs = [finished(job, RunStatus.SUCCESS, ago=timedelta(minutes=10))]
    counters_fold()
    # its final commit landed late (a long write lock, a full disk): finished_at is behind
    late = finished(job, RunStatus.FAILURE, ago=timedelta(minutes=8), duration_ms=300)
    before = counters_totals()
    assert before == expected(runs)  # not yet: it is older than what was folded

    assert counters_fold(recheck=True)

    runs.append(late)
    assert counters_totals() == expected(runs)
    assert all(counters_totals()[name] >= before[name] for name in FIGURES)


def test_a_fold_after_a_long_pause_counts_the_gap_once():
    job = JobFactory()
    runs = [finished(job, RunStatus.SUCCESS, ago=timedelta(hours=5))]
    counters_fold(now=timezone.now() - timedelta(hours=4))
    runs += [
        finished(job, RunStatus.SUCCESS, ago=timedelta(hours=3)),
        finished(job, RunStatus.FAILURE, ago=timedelta(minutes=20)),
    ]

    counters_fold()
    counters_fold(recheck=True)

    assert RunCounters.objects.get().totals == expected(runs)
    assert counters_totals() == expected(runs)


def test_a_fold_that_lost_the_race_to_another_host_writes_nothing():
    job = JobFactory()
    runs = [finished(job, RunStatus.SUCCESS, ago=timedelta(minutes=1))]
    counters_fold()
    read_before = RunCounters.objects.get()
    runs.append(finished(job, RunStatus.SUCCESS))
    assert counters_fold()  # another host's cluster folded meanwhile

    added = [1] * len(FIGURES)
    assert not counters._store(read_before, now=timezone.now(), added=added, slices={}, keep_from=0)
    assert counters_totals() == expected(runs)


def test_metrics_endpoint_serves_the_counters_after_retention(client, settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "METRICS_TOKEN": None}
    job = JobFactory()
    finished(job, RunStatus.SUCCESS, ago=timedelta(days=40), duration_ms=40)
    finished(job, RunStatus.SUCCESS, duration_ms=2000)
    counters_fold()
    retention_prune(days=30)

    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()

    assert 'taskflow_runs_finished_total{status="success"} 2.0' in body
    assert 'taskflow_run_duration_seconds_bucket{le="0.1"} 1.0' in body
    assert "taskflow_run_duration_seconds_count 2.0" in body
