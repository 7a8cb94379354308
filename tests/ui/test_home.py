"""GET /api/dashboard/activity, what the home page draws: active runs, every slot of the next
24 h across jobs, a timeline of the last 24 h per job, recent failures; scoped to the viewer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from jobs.services import job_next_run
from runs.models import RunStatus
from tests.factories import JobFactory, RunFactory, ScheduleFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # sessions, not JWTs: those would expire


def scheduled(owner, name, **grid):
    job = JobFactory(name=name, created_by=owner)
    ScheduleFactory(job=job, **grid)
    job.next_run_at = job_next_run(job=job, after=timezone.now())
    job.save(update_fields=["next_run_at"])
    return job


@time_machine.travel(NOW, tick=False)
def test_upcoming_lists_every_slot_of_the_next_24_hours_across_jobs(owner_client, owner, outsider):
    scheduled(owner, "six-hourly", hours=[0, 6, 12, 18], minutes=[0])
    scheduled(owner, "daily", hours=[13], minutes=[15])
    scheduled(outsider, "theirs", minutes=[45])
    off = scheduled(owner, "off", minutes=[40])
    off.enabled = False
    off.save(update_fields=["enabled"])
    data = owner_client.get("/api/dashboard/activity").json()["data"]
    assert [(slot["jobName"], slot["at"]) for slot in data["upcoming"]] == [
        ("daily", "2026-03-10T13:15:00Z"),
        ("six-hourly", "2026-03-10T18:00:00Z"),
        ("six-hourly", "2026-03-11T00:00:00Z"),
        ("six-hourly", "2026-03-11T06:00:00Z"),
        ("six-hourly", "2026-03-11T12:00:00Z"),
    ]
    assert data["upcomingUntil"] == "2026-03-11T12:30:00Z"


@time_machine.travel(NOW, tick=False)
def test_upcoming_stops_at_its_limit(owner_client, owner):
    scheduled(owner, "every-minute")
    upcoming = owner_client.get("/api/dashboard/activity").json()["data"]["upcoming"]
    assert len(upcoming) == 100
    assert upcoming[0]["at"] == "2026-03-10T12:31:00Z"


def test_the_timeline_has_a_row_per_job_and_a_mark_per_run(owner_api, owner, outsider):
    alpha = JobFactory(name="alpha", created_by=owner)
    beta = JobFactory(name="Beta", created_by=owner)
    now = timezone.now()
    done = RunFactory(
        job=beta, status=RunStatus.SUCCESS, started_at=now, finished_at=now, duration_ms=5
    )
    running = RunFactory(job=alpha, status=RunStatus.RUNNING, started_at=now)
    RunFactory(job__created_by=outsider, status=RunStatus.FAILURE)
    data = owner_api.get("/api/dashboard/activity").json()["data"]
    rows = data["timeline"]
    assert [row["jobName"] for row in rows] == ["alpha", "Beta"]
    assert [mark["id"] for mark in rows[1]["runs"]] == [str(done.pk)]
    assert rows[1]["runs"][0]["duration"] == 5
    assert [run["id"] for run in data["active"]] == [str(running.pk)]
    assert data["failures"] == [] and data["timelineTruncated"] is False


def test_an_old_run_leaves_the_timeline_unless_it_is_still_going(admin_api):
    old = RunFactory(status=RunStatus.SUCCESS)
    stuck = RunFactory(status=RunStatus.RUNNING)
    for run in (old, stuck):
        type(run).objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=2))
    rows = admin_api.get("/api/dashboard/activity").json()["data"]["timeline"]
    assert [mark["id"] for row in rows for mark in row["runs"]] == [str(stuck.pk)]


def test_recent_failures_are_newest_first(owner_api, owner):
    job = JobFactory(created_by=owner)
    now = timezone.now()
    first = RunFactory(job=job, status=RunStatus.FAILURE, finished_at=now - timedelta(hours=2))
    second = RunFactory(job=job, status=RunStatus.TIMEOUT, finished_at=now - timedelta(hours=1))
    RunFactory(job=job, status=RunStatus.FAILURE, finished_at=now - timedelta(hours=30))
    failures = owner_api.get("/api/dashboard/activity").json()["data"]["failures"]
    assert [run["id"] for run in failures] == [str(second.pk), str(first.pk)]


def test_the_activity_needs_a_login_and_a_sane_window(api, owner_api):
    assert api.get("/api/dashboard/activity").status_code == 401
    assert owner_api.get("/api/dashboard/activity?hours=0").status_code == 400
    assert owner_api.get("/api/dashboard/activity?hours=12").status_code == 200
