"""B4: properties over every IANA zone, biased around DST transitions.

For random zones, instants near their transitions, and fixed-time or wildcard schedules (each
written both as a grid and as the equivalent cron expression): next(t) > t; every fire is a
real local match (or, for a fixed-time slot inside a spring-forward gap, the first minute
after the jump); a daily fixed-time schedule fires at most once per local date; stepping with
next() gives exactly the preview; grid and cron agree.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.schedule import empty_schedule, grid_matches, schedule_next, schedule_preview

ZONES = sorted(available_timezones() - {"Factory", "localtime", "posixrules"})
SCAN_FROM = datetime(2000, 1, 1, tzinfo=UTC)
SCAN_WEEKS = 45 * 53


@cache
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """UTC instants (to the minute) where the zone's offset changes, 2000-2045 (weekly scan,
    then bisection)."""
    zone = ZoneInfo(zone_name)
    found = []
    previous = SCAN_FROM
    previous_offset = previous.astimezone(zone).utcoffset()
    for week in range(1, SCAN_WEEKS):
        current = SCAN_FROM + timedelta(weeks=week)
        offset = current.astimezone(zone).utcoffset()
        if offset != previous_offset:
            low, high = previous, current  # bisect to the minute
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == previous_offset:
                    low = middle
                else:
                    high = middle
            found.append(high.replace(second=0, microsecond=0))
            previous_offset = offset
        previous = current
    return tuple(found)


@st.composite
def zone_and_instant(draw):
    zone_name = draw(st.sampled_from(ZONES))
    near = transitions(zone_name)
    if near and draw(st.integers(0, 9)) < 9:  # mostly right around a transition
        base = draw(st.sampled_from(near))
        shift = draw(st.integers(-36 * 60, 36 * 60))
    else:
        base = datetime(2025, 1, 1, tzinfo=UTC)
        shift = draw(st.integers(-10 * 366 * 24 * 60, 10 * 366 * 24 * 60))
    seconds = draw(st.sampled_from([0, 0, 1, 30, 59]))
    return zone_name, base + timedelta(minutes=shift, seconds=seconds)


@st.composite
def fixed_daily(draw, zone_name: str, instant: datetime):
    """One hour and minute a day, biased to the local wall time around `instant`."""
    local = instant.astimezone(ZoneInfo(zone_name))
    if draw(st.booleans()):
        hour = (local.hour + draw(st.integers(-2, 2))) % 24
        minute = draw(st.sampled_from([0, 15, 30, 45, local.minute]))
    else:
        hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    return {"hours": [hour], "minutes": [minute]}, f"{minute} {hour} * * *"


@st.composite
def wildcard(draw):
    kind = draw(st.sampled_from(["step", "minute", "hour"]))
    if kind == "step":
        step = draw(st.sampled_from([1, 5, 15, 30, 45]))
        return {"minutes": list(range(0, 60, step))}, f"*/{step} * * * *"
    if kind == "minute":
        minute = draw(st.integers(0, 59))
        return {"minutes": [minute]}, f"{minute} * * * *"
    hour = draw(st.integers(0, 23))
    return {"hours": [hour]}, f"* {hour} * * *"


def _real(local_naive: datetime, zone: ZoneInfo) -> bool:
    aware = local_naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local_naive


def _check(fires: list[datetime], grid: dict, zone_name: str, after: datetime, fixed: bool):
    zone = ZoneInfo(zone_name)
    assert fires, "a daily or hourly schedule always fires"
    assert fires[0] > after
    assert all(a < b for a, b in itertools.pairwise(fires))
    for fire in fires:
        assert fire.tzinfo == UTC and fire.second == 0 and fire.microsecond == 0
        local = fire.astimezone(zone)
        if grid_matches(grid, local):
            continue
        # only a fixed-time slot that did not exist that day may fire off-pattern: at the
        # first real minute after the jump
        assert fixed, (fire, local)
        before = local.replace(tzinfo=None) - timedelta(minutes=1)
        assert not _real(before, zone), (fire, local)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), where=zone_and_instant())
def test_it_keeps_fixed_time_schedules_sane_in_every_zone(data, where):
    zone_name, after = where
    grid, cron = data.draw(fixed_daily(zone_name, after))
    schedule = empty_schedule() | grid
    fires = schedule_preview(schedule, zone_name, after, 6)
    _check(fires, grid, zone_name, after, fixed=True)
    per_date = Counter(fire.astimezone(ZoneInfo(zone_name)).date() for fire in fires)
    assert max(per_date.values()) == 1, fires
    assert [schedule_next(schedule, zone_name, fire) for fire in fires[:-1]] == fires[1:]
    assert schedule_preview(empty_schedule() | {"cron_expr": cron}, zone_name, after, 6) == fires


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), where=zone_and_instant())
def test_it_keeps_wildcard_schedules_on_real_matches_in_every_zone(data, where):
    zone_name, after = where
    grid, cron = data.draw(wildcard())
    schedule = empty_schedule() | grid
    fires = schedule_preview(schedule, zone_name, after, 40)
    _check(fires, grid, zone_name, after, fixed=False)
    assert [schedule_next(schedule, zone_name, fire) for fire in fires[:-1]] == fires[1:]
    assert schedule_preview(empty_schedule() | {"cron_expr": cron}, zone_name, after, 40) == fires
