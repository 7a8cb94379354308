"""The metrics page counts what the dashboard counts: a run that finished a minute ago is in
the figures even when its hour (or day) ended before a rollup saw it, and never twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from metrics.models import PeriodType
from metrics.rollups import rollup_period
from runs.models import RunStatus
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db

JUST_AFTER_MIDNIGHT = datetime(2026, 3, 10, 0, 0, 40, tzinfo=UTC)


def finished(job, status, at):
    return RunFactory(job=job, status=status, started_at=at, finished_at=at, duration_ms=100)


@time_machine.travel(JUST_AFTER_MIDNIGHT, tick=False)
@pytest.mark.parametrize("days", [7, 30, 90])
def test_a_run_from_a_minute_ago_counts_before_any_rollup(owner_client, owner, days):
    job = JobFactory(created_by=owner)
    finished(job, RunStatus.FAILURE, JUST_AFTER_MIDNIGHT - timedelta(minutes=1))
    finished(job, RunStatus.SUCCESS, JUST_AFTER_MIDNIGHT - timedelta(seconds=5))
    summary = owner_client.get(f"/admin/metrics/?range={days}").context["history"]["summary"]
    assert (summary["runCount"], summary["failureCount"]) == (2, 1)
    stats = owner_client.get("/api/dashboard/stats").json()["data"]
    assert stats["totalFailures"] == summary["failureCount"]


@time_machine.travel(JUST_AFTER_MIDNIGHT, tick=False)
def test_a_rolled_up_period_is_not_counted_twice(owner_client, owner):
    job = JobFactory(created_by=owner)
    finished(job, RunStatus.SUCCESS, JUST_AFTER_MIDNIGHT - timedelta(minutes=1))
    finished(job, RunStatus.SUCCESS, JUST_AFTER_MIDNIGHT - timedelta(hours=3))
    for period_type in (PeriodType.HOURLY, PeriodType.DAILY):
        for hours_back in range(1, 30):
            start = JUST_AFTER_MIDNIGHT - timedelta(hours=hours_back)
            rollup_period(period_type=period_type, period_start=start)
    for days in (7, 30):
        summary = owner_client.get(f"/admin/metrics/?range={days}").context["history"]["summary"]
        assert summary["runCount"] == 2


def test_the_metrics_charts_span_the_chosen_range(owner_client):
    page = owner_client.get("/admin/metrics/?range=30").content
    assert b"taskflow/charts.js" in page and b'"rangeDays": 30' in page
