"""Hourly/daily rollups: correct figures, idempotent, never wiped by retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from metrics.models import MetricAggregate, PeriodType
from metrics.rollups import next_hour_boundary, rollup_period, rollup_range, rollup_recent
from runs.models import Run, RunStatus
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 0, 0, 5, tzinfo=UTC)


def finished(job, status, at, *, duration_ms=1000, cpu=(10.0, 20.0), mem=(100, 200)):
    return RunFactory(
        job=job,
        status=status,
        started_at=at,
        finished_at=at,
        duration_ms=duration_ms,
        cpu_percent_avg=cpu[0],
        cpu_percent_max=cpu[1],
        memory_bytes_avg=mem[0],
        memory_bytes_max=mem[1],
    )


@time_machine.travel(NOW, tick=False)
def test_it_aggregates_one_jobs_hour():
    job = JobFactory()
    hour = datetime(2026, 3, 1, 22, tzinfo=UTC)
    finished(job, RunStatus.SUCCESS, hour + timedelta(minutes=1), duration_ms=1000)
    finished(job, RunStatus.FAILURE, hour + timedelta(minutes=30), duration_ms=3000, cpu=(30, 90))
    finished(job, RunStatus.TIMEOUT, hour + timedelta(minutes=59), duration_ms=5000, mem=(400, 900))
    finished(job, RunStatus.SKIPPED, hour + timedelta(minutes=5))
    finished(job, RunStatus.SUCCESS, hour + timedelta(hours=1))  # next hour

    assert rollup_period(period_type=PeriodType.HOURLY, period_start=hour) == 1

    agg = MetricAggregate.objects.get(job=job, period_type="hourly", period_start=hour)
    assert (agg.run_count, agg.success_count, agg.failure_count) == (3, 1, 2)
    assert (agg.avg_duration_ms, agg.max_duration_ms) == (3000, 5000)
    assert agg.avg_cpu_percent == pytest.approx(50 / 3)
    assert agg.max_cpu_percent == 90
    assert (agg.avg_memory_bytes, agg.max_memory_bytes) == (200, 900)


@time_machine.travel(NOW, tick=False)
def test_it_is_idempotent_and_updates_in_place():
    job = JobFactory()
    day = datetime(2026, 3, 1, tzinfo=UTC)
    finished(job, RunStatus.SUCCESS, day + timedelta(hours=3))

    rollup_period(period_type=PeriodType.DAILY, period_start=day)
    rollup_period(period_type=PeriodType.DAILY, period_start=day)
    finished(job, RunStatus.FAILURE, day + timedelta(hours=4))
    rollup_period(period_type=PeriodType.DAILY, period_start=day)

    rows = MetricAggregate.objects.filter(job=job, period_type="daily")
    assert rows.count() == 1
    assert (rows.get().run_count, rows.get().failure_count) == (2, 1)


@time_machine.travel(NOW, tick=False)
def test_it_keeps_aggregates_after_the_runs_are_deleted():
    job = JobFactory()
    day = datetime(2026, 3, 1, tzinfo=UTC)
    finished(job, RunStatus.SUCCESS, day + timedelta(hours=3))
    rollup_period(period_type=PeriodType.DAILY, period_start=day)
    Run.objects.all().delete()

    rollup_period(period_type=PeriodType.DAILY, period_start=day)

    assert MetricAggregate.objects.get(job=job, period_type="daily").run_count == 1


@time_machine.travel(NOW, tick=False)
def test_it_rolls_up_the_recent_hours_and_yesterday_at_midnight():
    job = JobFactory()
    finished(job, RunStatus.SUCCESS, datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    finished(job, RunStatus.SUCCESS, datetime(2026, 3, 1, 10, 30, tzinfo=UTC))

    rollup_recent()

    hourly = MetricAggregate.objects.filter(period_type="hourly")
    assert [a.period_start.hour for a in hourly] == [23]  # 10:00 is older than HOURS_BACK
    assert MetricAggregate.objects.get(period_type="daily").run_count == 2


@time_machine.travel(NOW, tick=False)
def test_it_backfills_a_range_of_complete_periods_only():
    job = JobFactory()
    for day in (26, 27, 28):
        finished(job, RunStatus.SUCCESS, datetime(2026, 2, day, 12, tzinfo=UTC))
    finished(job, RunStatus.SUCCESS, datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC))  # running hour

    counts = rollup_range(start=datetime(2026, 2, 26, tzinfo=UTC), end=NOW + timedelta(days=1))

    assert counts["daily"] == 3
    assert counts["hourly"] == 3
    assert MetricAggregate.objects.count() == 6


def test_it_fires_after_each_hour_boundary():
    at = datetime(2026, 3, 1, 10, 59, 59, tzinfo=UTC).timestamp()
    expected = datetime(2026, 3, 1, 11, 0, 5, tzinfo=UTC).timestamp()
    assert next_hour_boundary(at) == expected
    assert next_hour_boundary(expected) == expected + 3600
