"""Grid matching (all fields ANDed, docs/scheduling.md) and cron matching (Debian cron: day of
month OR day of week)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobs.schedule import (
    empty_schedule,
    grid_matches,
    is_fixed_time,
    schedule_next,
    schedule_preview,
)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def grid(**fields) -> dict:
    return empty_schedule() | fields


def cron(expr: str) -> dict:
    return empty_schedule() | {"cron_expr": expr}


def test_it_ands_every_grid_field_and_treats_empty_as_any():
    schedule = grid(days=[1], weekdays=[1], hours=[9], minutes=[0])  # the 1st AND a Monday
    assert schedule_preview(schedule, "UTC", at(2025, 9, 1, 12), 3) == [
        at(2025, 12, 1, 9),
        at(2026, 6, 1, 9),
        at(2027, 2, 1, 9),
    ]
    assert grid_matches(schedule, datetime(2025, 12, 1, 9, 0))
    assert not grid_matches(schedule, datetime(2025, 12, 8, 9, 0))  # Monday, not the 1st


def test_it_ors_day_of_month_and_day_of_week_in_cron():  # B5
    got = schedule_preview(cron("0 9 1 * 1"), "UTC", at(2025, 9, 1, 12), 6)
    assert got == [
        at(2025, 9, 8, 9),
        at(2025, 9, 15, 9),
        at(2025, 9, 22, 9),
        at(2025, 9, 29, 9),
        at(2025, 10, 1, 9),  # a Wednesday: the 1st alone matches
        at(2025, 10, 6, 9),
    ]


def test_it_ands_day_fields_in_cron_when_one_is_a_star():
    got = schedule_preview(cron("0 9 * * 1"), "UTC", at(2025, 9, 1, 12), 2)
    assert got == [at(2025, 9, 8, 9), at(2025, 9, 15, 9)]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("0 9 * * MON-FRI", [at(2025, 9, 8, 9), at(2025, 9, 9, 9)]),  # Fri noon -> Mon, Tue
        ("0 0 1 JAN,JUL *", [at(2026, 1, 1), at(2026, 7, 1)]),
        ("*/20 10 * * *", [at(2025, 9, 6, 10), at(2025, 9, 6, 10, 20)]),
        ("5-7 10 * * *", [at(2025, 9, 6, 10, 5), at(2025, 9, 6, 10, 6)]),
        ("0 0 * * 7", [at(2025, 9, 7), at(2025, 9, 14)]),  # 7 = Sunday, like Debian cron
        ("0 0 * * 0", [at(2025, 9, 7), at(2025, 9, 14)]),
        ("@daily", [at(2025, 9, 6), at(2025, 9, 7)]),
        ("@hourly", [at(2025, 9, 5, 13), at(2025, 9, 5, 14)]),
    ],
)
def test_it_understands_names_ranges_steps_lists_and_macros(expr, expected):
    assert schedule_preview(cron(expr), "UTC", at(2025, 9, 5, 12, 30), 2) == expected


def test_it_counts_weekdays_from_sunday_zero_in_the_grid():
    sunday_noon = grid(weekdays=[0], hours=[12], minutes=[0])
    assert schedule_next(sunday_noon, "UTC", at(2025, 9, 1)) == at(2025, 9, 7, 12)


def test_it_is_strictly_after_now_even_on_a_slot():
    assert schedule_next(cron("* * * * *"), "UTC", at(2025, 1, 1, 10)) == at(2025, 1, 1, 10, 1)
    assert schedule_next(grid(), "UTC", at(2025, 1, 1, 10, 0, 0)) == at(2025, 1, 1, 10, 1)
    just_after = datetime(2025, 1, 1, 10, 0, 0, 1, tzinfo=UTC)
    assert schedule_next(grid(), "UTC", just_after) == at(2025, 1, 1, 10, 1)


def test_it_evaluates_in_the_jobs_zone_and_answers_in_utc():
    nine_in_tokyo = grid(hours=[9], minutes=[0])
    assert schedule_next(nine_in_tokyo, "Asia/Tokyo", at(2025, 5, 31, 12)) == at(2025, 6, 1, 0)
    assert schedule_next(cron("0 9 * * *"), "America/New_York", at(2025, 6, 1)) == at(
        2025, 6, 1, 13
    )


def test_it_stops_after_the_last_listed_year():
    schedule = grid(years=[2025], months=[12], days=[31], hours=[23], minutes=[59])
    assert schedule_next(schedule, "UTC", at(2025, 6, 1)) == at(2025, 12, 31, 23, 59)
    assert schedule_next(schedule, "UTC", at(2025, 12, 31, 23, 59)) is None


def test_it_finds_rare_dates_without_walking_every_minute():
    leap_monday = grid(months=[2], days=[29], weekdays=[1], hours=[0], minutes=[0])
    assert schedule_next(leap_monday, "UTC", at(2025, 1, 1)) == at(2044, 2, 29)


def test_it_tells_fixed_time_from_wildcard_schedules():
    assert is_fixed_time(cron("30 2 * * *"))
    assert is_fixed_time(cron("0,30 9-17 * * *"))
    assert not is_fixed_time(cron("*/30 * * * *"))
    assert not is_fixed_time(cron("0 * * * *"))
    assert is_fixed_time(grid(hours=[2], minutes=[30]))
    assert not is_fixed_time(grid(minutes=[30]))
    assert not is_fixed_time(grid(hours=[2]))
