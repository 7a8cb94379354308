"""dashboard_stats: KPIs from real rows, scoped to what the user may see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from metrics.services import dashboard_stats
from runs.models import RunStatus, WorkerHeartbeat, WorkerRole
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def finished(job, status, *, ago_minutes=10, duration_ms=1000):
    at = NOW - timedelta(minutes=ago_minutes)
    return RunFactory(
        job=job, status=status, started_at=at, finished_at=at, duration_ms=duration_ms
    )


@time_machine.travel(NOW, tick=False)
def test_it_computes_the_kpis_for_the_owner(owner):
    job = JobFactory(created_by=owner)
    JobFactory(created_by=owner, enabled=False)
    finished(job, RunStatus.SUCCESS, duration_ms=1000)
    finished(job, RunStatus.SUCCESS, duration_ms=2000)
    finished(job, RunStatus.SUCCESS, duration_ms=3000)
    finished(job, RunStatus.FAILURE, duration_ms=4000)
    finished(job, RunStatus.TIMEOUT, duration_ms=5000)
    finished(job, RunStatus.CANCELLED)  # nobody's failure: not counted
    finished(job, RunStatus.SUCCESS, ago_minutes=60 * 25)  # outside the 24 h window
    RunFactory(job=job, status=RunStatus.RUNNING, started_at=NOW)

    stats = dashboard_stats(user=owner)

    assert stats == {
        "activeJobs": 1,
        "runningNow": 1,
        "successRate": 0.6,
        "totalFailures": 2,
        "averageDuration": 3000,
        "uptime": 0,
    }


@time_machine.travel(NOW, tick=False)
def test_it_hides_other_users_runs_and_shows_all_to_admins(owner, outsider, admin_user):
    job = JobFactory(created_by=owner)
    finished(job, RunStatus.FAILURE)
    RunFactory(job=job, status=RunStatus.RUNNING)

    theirs = dashboard_stats(user=outsider)
    admins = dashboard_stats(user=admin_user)

    assert (theirs["activeJobs"], theirs["runningNow"], theirs["totalFailures"]) == (0, 0, 0)
    assert (admins["activeJobs"], admins["runningNow"], admins["totalFailures"]) == (1, 1, 1)


@time_machine.travel(NOW, tick=False)
def test_it_reports_uptime_from_the_oldest_live_cluster(owner):
    def beat(name, started_minutes_ago, heartbeat_seconds_ago):
        WorkerHeartbeat.objects.create(
            name=name,
            role=WorkerRole.CLUSTER,
            hostname="h",
            pid=1,
            started_at=NOW - timedelta(minutes=started_minutes_ago),
            heartbeat_at=NOW - timedelta(seconds=heartbeat_seconds_ago),
        )

    beat("cluster@a", started_minutes_ago=10, heartbeat_seconds_ago=1)
    beat("cluster@b", started_minutes_ago=5, heartbeat_seconds_ago=1)
    beat("cluster@dead", started_minutes_ago=600, heartbeat_seconds_ago=600)

    assert dashboard_stats(user=owner)["uptime"] == 10 * 60 * 1000


@time_machine.travel(NOW, tick=False)
def test_it_reports_zero_rate_when_nothing_ran(owner):
    assert dashboard_stats(user=owner)["successRate"] == 0.0
