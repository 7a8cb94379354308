"""job_metrics: rolled-up history plus the live current period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from metrics.models import PeriodType
from metrics.rollups import rollup_period
from metrics.services import job_metrics
from runs.models import RunStatus
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def finished(job, status, at, duration_ms=1000):
    return RunFactory(
        job=job, status=status, started_at=at, finished_at=at, duration_ms=duration_ms
    )


@time_machine.travel(NOW, tick=False)
def test_it_returns_daily_points_from_rollups_and_today_live():
    job = JobFactory()
    other = JobFactory()
    day = datetime(2026, 3, 5, tzinfo=UTC)
    finished(job, RunStatus.SUCCESS, day + timedelta(hours=1), duration_ms=1000)
    finished(job, RunStatus.FAILURE, day + timedelta(hours=2), duration_ms=3000)
    finished(other, RunStatus.FAILURE, day + timedelta(hours=2))
    rollup_period(period_type=PeriodType.DAILY, period_start=day)
    finished(job, RunStatus.SUCCESS, NOW - timedelta(minutes=5), duration_ms=5000)

    data = job_metrics(job=job, range_days=30)

    assert data["granularity"] == "daily"
    assert [p["periodStart"] for p in data["points"]] == [
        "2026-03-05T00:00:00Z",
        "2026-03-10T00:00:00Z",
    ]
    assert [p["runCount"] for p in data["points"]] == [2, 1]
    assert data["points"][0]["successRate"] == 0.5
    summary = data["summary"]
    assert (summary["runCount"], summary["successCount"], summary["failureCount"]) == (3, 2, 1)
    assert summary["avgDuration"] == 3000
    assert summary["maxDuration"] == 5000


@time_machine.travel(NOW, tick=False)
def test_it_uses_hourly_points_for_a_week_and_respects_the_range():
    job = JobFactory()
    old_hour = datetime(2026, 3, 1, 8, tzinfo=UTC)  # 9 days ago
    recent_hour = datetime(2026, 3, 9, 8, tzinfo=UTC)
    finished(job, RunStatus.SUCCESS, old_hour + timedelta(minutes=5))
    finished(job, RunStatus.SUCCESS, recent_hour + timedelta(minutes=5))
    rollup_period(period_type=PeriodType.HOURLY, period_start=old_hour)
    rollup_period(period_type=PeriodType.HOURLY, period_start=recent_hour)

    data = job_metrics(job=job, range_days=7)

    assert data["granularity"] == "hourly"
    assert [p["periodStart"] for p in data["points"]] == ["2026-03-09T08:00:00Z"]
    assert data["summary"]["runCount"] == 1


@time_machine.travel(NOW, tick=False)
def test_it_returns_an_empty_history_for_a_new_job():
    data = job_metrics(job=JobFactory(), range_days=90)

    assert data["points"] == []
    assert data["summary"]["runCount"] == 0
    assert data["summary"]["successRate"] is None
