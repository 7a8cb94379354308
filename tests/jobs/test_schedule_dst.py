"""Debian cron's DST semantics in the job's zone (B1-B3), for cron and the grid alike."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from jobs.schedule import empty_schedule, schedule_preview

CRON_0230 = empty_schedule() | {"cron_expr": "30 2 * * *"}
GRID_0230 = empty_schedule() | {"hours": [2], "minutes": [30]}


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("schedule", [CRON_0230, GRID_0230], ids=["cron", "grid"])
def test_it_fires_a_slot_in_the_spring_gap_right_after_the_jump(schedule):  # B1
    fires = schedule_preview(schedule, "Europe/Berlin", at(2025, 3, 29, 12), 3)
    assert fires == [at(2025, 3, 30, 1, 0), at(2025, 3, 31, 0, 30), at(2025, 4, 1, 0, 30)]


@pytest.mark.parametrize("schedule", [CRON_0230, GRID_0230], ids=["cron", "grid"])
def test_it_fires_a_slot_in_the_repeated_hour_once_the_first_time(schedule):  # B2
    fires = schedule_preview(schedule, "Europe/Berlin", at(2025, 10, 25, 12), 3)
    # 02:30 CEST (00:30Z) only; not 02:30 CET (01:30Z) an hour later
    assert fires == [at(2025, 10, 26, 0, 30), at(2025, 10, 27, 1, 30), at(2025, 10, 28, 1, 30)]


@pytest.mark.parametrize(
    "schedule",
    [
        empty_schedule() | {"cron_expr": "30 1 * * *"},
        empty_schedule() | {"hours": [1], "minutes": [30]},
    ],
    ids=["cron", "grid"],
)
def test_it_fires_new_york_fall_back_once(schedule):  # B2
    fires = schedule_preview(schedule, "America/New_York", at(2025, 11, 1, 12), 2)
    assert fires == [at(2025, 11, 2, 5, 30), at(2025, 11, 3, 6, 30)]
    # asked during the second 01:xx (01:40 EST = 06:40Z): the first pass already fired
    assert schedule_preview(schedule, "America/New_York", at(2025, 11, 2, 6, 10), 1) == [
        at(2025, 11, 3, 6, 30)
    ]


@pytest.mark.parametrize(
    "schedule",
    [
        empty_schedule() | {"cron_expr": "*/30 * * * *"},
        empty_schedule() | {"minutes": [0, 30]},
    ],
    ids=["cron", "grid"],
)
def test_it_keeps_real_30_minute_intervals_through_fall_back(schedule):  # B3
    start = at(2025, 10, 25, 22, 45)
    fires = schedule_preview(schedule, "Europe/Berlin", start, 10)
    gaps = {b - a for a, b in itertools.pairwise(fires)}
    assert gaps == {timedelta(minutes=30)}
    assert at(2025, 10, 26, 0, 30) in fires and at(2025, 10, 26, 1, 30) in fires


@pytest.mark.parametrize(
    "schedule",
    [empty_schedule() | {"cron_expr": "* * * * *"}, empty_schedule()],
    ids=["cron", "grid"],
)
def test_it_fires_every_real_minute_through_fall_back(schedule):  # B3
    start = at(2025, 10, 26, 0, 0)  # 02:00 CEST; two local hours 02:xx follow
    fires = schedule_preview(schedule, "Europe/Berlin", start, 120)
    assert fires == [start + timedelta(minutes=n) for n in range(1, 121)]


@pytest.mark.parametrize(
    "schedule",
    [empty_schedule() | {"cron_expr": "* * * * *"}, empty_schedule()],
    ids=["cron", "grid"],
)
def test_it_never_fires_a_wildcard_job_inside_the_spring_gap(schedule):
    start = at(2025, 3, 30, 0, 58)  # 01:58 CET; 02:00-02:59 do not exist
    fires = schedule_preview(schedule, "Europe/Berlin", start, 3)
    assert fires == [at(2025, 3, 30, 0, 59), at(2025, 3, 30, 1, 0), at(2025, 3, 30, 1, 1)]


def test_it_keeps_cron_and_grid_in_step_across_a_year_of_transitions():
    for zone in ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago"):
        for cron_expr, grid in [
            ("30 2 * * *", {"hours": [2], "minutes": [30]}),
            ("15 0 * * *", {"hours": [0], "minutes": [15]}),
            ("*/15 * * * *", {"minutes": [0, 15, 30, 45]}),
        ]:
            start = at(2025, 1, 1)
            as_cron = schedule_preview(
                empty_schedule() | {"cron_expr": cron_expr}, zone, start, 400
            )
            as_grid = schedule_preview(empty_schedule() | grid, zone, start, 400)
            assert as_cron == as_grid, (zone, cron_expr)
