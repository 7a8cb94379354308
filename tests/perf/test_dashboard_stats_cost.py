"""dashboard_stats reads its 24 h window from run_finished_cover_idx alone, in a fixed number of
queries, and still averages only runs that have a duration."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from metrics.services import dashboard_stats
from runs.models import RunStatus
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def finished(job, status, *, duration_ms):
    at = NOW - timedelta(minutes=5)
    return RunFactory(
        job=job, status=status, started_at=at, finished_at=at, duration_ms=duration_ms
    )


@time_machine.travel(NOW, tick=False)
def test_it_averages_only_runs_with_a_duration(owner):
    job = JobFactory(created_by=owner)
    finished(job, RunStatus.SUCCESS, duration_ms=1000)
    finished(job, RunStatus.FAILURE, duration_ms=None)  # counted, but has no duration
    finished(job, RunStatus.TIMEOUT, duration_ms=4000)

    stats = dashboard_stats(user=owner)

    assert stats["successRate"] == round(1 / 3, 4)
    assert stats["totalFailures"] == 2
    assert stats["averageDuration"] == 2500


@time_machine.travel(NOW, tick=False)
def test_it_takes_a_fixed_number_of_queries(owner, admin_user, django_assert_max_num_queries):
    for index in range(5):
        job = JobFactory(created_by=owner)
        finished(job, RunStatus.SUCCESS, duration_ms=index * 100)
        RunFactory(job=job, status=RunStatus.RUNNING, started_at=NOW)
    for user in (owner, admin_user):
        with django_assert_max_num_queries(5):
            dashboard_stats(user=user)


@time_machine.travel(NOW, tick=False)
def test_it_reads_the_window_from_the_covering_index(owner, admin_user):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite plan text")
    job = JobFactory(created_by=owner)
    finished(job, RunStatus.SUCCESS, duration_ms=1000)

    with CaptureQueriesContext(connection) as queries:
        dashboard_stats(user=owner)
        dashboard_stats(user=admin_user)

    windows = [query["sql"] for query in queries if "SUM" in query["sql"].upper()]
    assert len(windows) == 2
    for sql in windows:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = " ".join(str(row) for row in cursor.fetchall())
        assert "USING COVERING INDEX run_finished_cover_idx" in plan, plan
