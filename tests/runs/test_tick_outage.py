"""The tick after long outages: run_all's cap says what it left unrun, missed slots are counted
exactly however many there were, and a DST transition day is converted once per schedule and
zone however many jobs ask (counted in zone conversions, not timed)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from jobs import zonedays
from jobs.models import CatchupPolicy
from jobs.schedule import schedule_next
from jobs.services import job_create
from runs.engine.tick import MISSED_RECORD_LIMIT, tick_run
from runs.models import Run, RunStatus, TriggerType

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)


def every_minute(owner, *, at=T0, zone="UTC", **fields):
    with time_machine.travel(at, tick=False):
        return job_create(
            created_by=owner,
            name=fields.pop("name", "minutely"),
            script="true",
            schedule={},
            timezone=zone,
            **fields,
        )


def rows(job, **filters) -> list[Run]:
    return list(Run.objects.filter(job=job, **filters).order_by("scheduled_for"))


def test_run_all_beyond_its_cap_records_the_slots_it_did_not_run(owner):
    job = every_minute(
        owner,
        catchup_policy=CatchupPolicy.RUN_ALL,
        catchup_window_seconds=86400,
        max_queued=1000,  # room for every catch-up run
    )
    now = T0 + timedelta(hours=5, seconds=30)  # 300 slots, 10:01 to 15:00, all in the window

    assert tick_run(now=now) == MISSED_RECORD_LIMIT + 1

    started = rows(job, status=RunStatus.PENDING)
    assert started[0].scheduled_for == T0 + timedelta(minutes=100)  # the 201 most recent
    assert {run.trigger_type for run in started[:-1]} == {TriggerType.CATCHUP}
    assert started[-1].trigger_type == TriggerType.SCHEDULED  # 15:00, on time
    (note,) = rows(job, status=RunStatus.SKIPPED)
    assert note.scheduled_for == T0 + timedelta(minutes=1)  # one row for the oldest slots
    assert note.error_message.startswith("missed: 99 earlier missed slots not listed")
    assert "not run: 99 of them were within the catch-up window" in note.error_message


def test_run_all_counts_only_the_unrun_slots_inside_the_window(owner):
    job = every_minute(
        owner,
        catchup_policy=CatchupPolicy.RUN_ALL,
        catchup_window_seconds=4 * 3600,
        max_queued=1000,
    )
    now = T0 + timedelta(hours=5, seconds=30)  # the window starts at 11:00:30

    tick_run(now=now)

    (note,) = rows(job, status=RunStatus.SKIPPED)
    # 10:01-11:39 were not listed; of those, 11:01-11:39 lay inside the window
    assert "99 earlier missed slots" in note.error_message
    assert "not run: 39 of them were within the catch-up window" in note.error_message


def test_it_counts_missed_slots_exactly_far_beyond_any_scan_limit(owner):
    job = every_minute(owner, catchup_policy=CatchupPolicy.SKIP)
    now = T0 + timedelta(days=100)  # 144,000 slots

    tick_run(now=now)

    skipped = rows(job)
    assert len(skipped) == MISSED_RECORD_LIMIT + 2
    unlisted = 100 * 24 * 60 - (MISSED_RECORD_LIMIT + 1)
    assert skipped[0].error_message.startswith(f"missed: {unlisted} earlier missed slots")


def test_a_tick_on_a_transition_day_converts_each_zone_day_once(owner, monkeypatch):
    """Every-minute jobs in two zones that both fall back on 2025-10-26 at 01:00Z: however many
    jobs are due, each zone's transition day is converted once."""
    fall_back = datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    for index in range(40):
        zone = "Europe/Berlin" if index % 2 else "Europe/London"
        every_minute(owner, at=fall_back - timedelta(seconds=50), zone=zone, name=f"job{index}")
    conversions = count_conversions(monkeypatch)

    assert tick_run(now=fall_back + timedelta(seconds=5)) == 40
    spent = sum(conversions.values())
    monkeypatch.undo()

    one_day = transition_day_cost(monkeypatch, "Europe/Berlin", fall_back)
    one_day += transition_day_cost(monkeypatch, "Europe/London", fall_back)
    assert 0 < spent <= one_day, (spent, one_day)


def count_conversions(monkeypatch) -> Counter:
    """Patch jobs.zonedays' conversions with counting wrappers; clear the day cache."""
    counts: Counter = Counter()
    for name in ("is_imaginary", "to_utc"):
        original = getattr(zonedays, name)

        def counting(*args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(zonedays, name, counting)
    zonedays.transition_day.cache_clear()
    return counts


def transition_day_cost(monkeypatch, zone: str, instant: datetime) -> int:
    """The conversions one materialisation of an every-minute schedule's day costs."""
    with monkeypatch.context() as patch:
        counts = count_conversions(patch)
        schedule_next({}, zone, instant)
    zonedays.transition_day.cache_clear()
    return sum(counts.values())
