"""Schedule edge cases: `a-a/s` as Vixie cron reads it (the value a alone), the cost of a DST
transition day counted in zone conversions (each schedule, zone and date converted once), and
fire-time counts over long windows computed per date and equal to walking every slot."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import takewhile

import pytest

from jobs import schedule as schedule_module
from jobs import zonedays
from jobs.schedule import (
    cron_fields,
    empty_schedule,
    schedule_iter,
    schedule_next,
    schedule_preview,
    schedule_window,
)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cron(expr: str) -> dict:
    return empty_schedule() | {"cron_expr": expr}


@pytest.mark.parametrize(
    ("expr", "plain"),
    [
        ("0 12-12/1 * * *", "0 12 * * *"),
        ("0 9 1-1/7 * *", "0 9 1 * *"),
        ("0 9 * * MON-MON/2", "0 9 * * MON"),
        ("0 9 * JAN-JAN/2 *", "0 9 * JAN *"),
        ("5-05/10 * * * *", "5 * * * *"),
    ],
)
def test_a_one_value_range_with_a_step_is_that_value_as_in_vixie_cron(expr, plain):
    start = at(2025, 1, 1)
    assert schedule_preview(cron(expr), "UTC", start, 20) == schedule_preview(
        cron(plain), "UTC", start, 20
    )


def test_other_ranges_and_steps_are_unchanged():
    assert cron_fields("0 1-5/2,7-7/3 * * *") == "0 1-5/2,7 * * *"
    assert cron_fields("*/15 9-17 * * MON-FRI") == "*/15 9-17 * * MON-FRI"
    assert cron_fields("@daily") == "0 0 * * *"
    hours = [t.hour for t in schedule_preview(cron("0 1-5/2 * * *"), "UTC", at(2025, 1, 1), 3)]
    assert hours == [1, 3, 5]


def counting_conversions(monkeypatch) -> Counter:
    counts: Counter = Counter()
    for name in ("is_imaginary", "to_utc"):
        original = getattr(zonedays, name)

        def counting(*args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(zonedays, name, counting)
    zonedays.transition_day.cache_clear()
    return counts


def test_a_transition_day_is_converted_once_however_often_it_is_asked(monkeypatch):
    counts = counting_conversions(monkeypatch)
    fall_back = at(2025, 10, 25, 22, 0)  # Berlin's local 2025-10-26 starts here

    schedule_next(empty_schedule(), "Europe/Berlin", fall_back)
    one_day = sum(counts.values())
    # a tick's worth of questions on the same day: 1,000 every-minute jobs, each its own slot
    fires = [
        schedule_next(empty_schedule(), "Europe/Berlin", fall_back + timedelta(minutes=n))
        for n in range(1000)
    ]

    assert 0 < one_day <= 3 * 25 * 60  # one materialisation: at most 3 per wall minute
    assert sum(counts.values()) == one_day  # ...and none for the next 1,000 questions
    assert fires == [fall_back + timedelta(minutes=n + 1) for n in range(1000)]


def test_each_zone_and_schedule_has_its_own_day(monkeypatch):
    counting_conversions(monkeypatch)
    day = at(2025, 10, 26, 0, 30)
    for zone in ("Europe/Berlin", "Europe/London", "Europe/Berlin", "Europe/London"):
        for schedule in (empty_schedule(), cron("*/5 * * * *"), empty_schedule()):
            schedule_next(schedule, zone, day)
    assert zonedays.transition_day.cache_info().currsize == 4  # 2 zones x 2 schedules
    assert zonedays.transition_day.cache_info().misses == 4


WINDOWS = [
    (empty_schedule(), "Europe/Berlin", at(2025, 10, 24), at(2025, 10, 28, 3, 17)),
    (empty_schedule(), "America/New_York", at(2025, 3, 8), at(2025, 3, 10)),
    (cron("30 2 * * *"), "Europe/Berlin", at(2025, 3, 1), at(2025, 11, 1)),
    (cron("*/7 1-3 * * *"), "Australia/Lord_Howe", at(2025, 3, 30), at(2025, 10, 10)),
    (cron("0 9 1-1/7 * MON"), "America/Santiago", at(2024, 1, 1), at(2026, 1, 1)),
    (
        empty_schedule() | {"hours": [2], "minutes": [0, 30]},
        "Europe/London",
        at(2025, 1, 1),
        at(2026, 1, 1),
    ),
]


@pytest.mark.parametrize(("schedule", "zone", "after", "until"), WINDOWS)
def test_window_counts_equal_walking_every_slot(schedule, zone, after, until):
    walked = list(takewhile(lambda t: t <= until, schedule_iter(schedule, zone, after)))

    last, total = schedule_window(schedule, zone, after, until, keep=50)

    assert total == len(walked)
    assert last == walked[-50:]


def test_a_hundred_days_of_minutes_are_counted_date_by_date(monkeypatch):
    after, until = at(2025, 6, 1), at(2025, 6, 1) + timedelta(days=100)
    dates = []
    original = schedule_module.day_times
    monkeypatch.setattr(
        schedule_module, "day_times", lambda *args: dates.append(args[2]) or original(*args)
    )

    last, total = schedule_window(empty_schedule(), "Europe/Berlin", after, until, keep=3)

    assert total == 100 * 24 * 60
    assert last == [until - timedelta(minutes=2), until - timedelta(minutes=1), until]
    assert len(dates) <= 103  # one step per local date, not one per slot
