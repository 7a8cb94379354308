"""The fire times of one local date in a zone (no Django): the heart of jobs.schedule.

A date whose UTC offset never changes maps local wall times to UTC by one subtraction. A date
with a DST transition is materialised with Debian cron's rules and cached per schedule, zone
and date (docs/architecture.md, record 3): on such a date every next-run question of every job
with the same schedule would otherwise convert each of its up to 1,440 wall times again.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def is_imaginary(naive: datetime, tz: ZoneInfo) -> bool:
    """True when the wall time does not exist in tz (inside a spring-forward gap)."""
    aware = naive.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive


def to_utc(naive: datetime, tz: ZoneInfo, fold: int = 0) -> datetime:
    return naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)


def after_gap(naive: datetime, tz: ZoneInfo) -> datetime:
    """The first real whole minute at or after an imaginary wall time (cron's gap rule)."""
    probe = naive
    for _ in range(3 * 24 * 60):  # gaps are at most a day (Samoa 2011)
        probe += timedelta(minutes=1)
        if not is_imaginary(probe, tz):
            return probe
    return probe


@dataclass(frozen=True)
class Plan:
    """What matches, field by field: the grid's lists, or a parsed cron expression's sets.
    Equal plans have equal keys (the schedule's own fields), which the caches below use."""

    key: tuple
    years: Sequence[int] | None = field(compare=False)  # None = any (HORIZON_YEARS ahead)
    months: Sequence[int] = field(compare=False)
    days: Sequence[int] | None = field(compare=False)  # None = every day, see day_ok
    day_ok: Callable[[date], bool] = field(compare=False)
    hours: Sequence[int] = field(compare=False)
    minutes: Sequence[int] = field(compare=False)
    fixed: bool = field(compare=False)
    every_day: bool = field(compare=False)  # no calendar field restricted: no walk needed

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        """Seconds after local midnight of every (hour, minute) that matches, ascending."""
        return tuple(hour * 3600 + minute * 60 for hour in self.hours for minute in self.minutes)


@lru_cache(maxsize=8192)
def steady_offset(tz: ZoneInfo, day: date) -> timedelta | None:
    """The date's UTC offset if it is the same all day (no transition), else None."""
    start = datetime.combine(day, time())
    offset = tz.utcoffset(start)
    for hour in range(25):
        probe = start + timedelta(hours=hour)
        if tz.utcoffset(probe) != offset or tz.utcoffset(probe.replace(fold=1)) != offset:
            return None
    return offset


@lru_cache(maxsize=1024)
def transition_day(plan: Plan, tz: ZoneInfo, day: date) -> array:
    """Every fire time (UTC epoch seconds, ascending) of a local date whose UTC offset
    changes: a fixed-time slot in the gap fires right after the jump, one in the repeated hour
    once (the first time); wildcard schedules fire at every real matching instant."""
    midnight = datetime.combine(day, time())
    found: set[int] = set()
    for hour in plan.hours:
        start = midnight + timedelta(hours=hour)
        offset = _plain_hour(tz, start)
        if offset is not None:  # most hours of the day: one subtraction per minute
            base = epoch((start - offset).replace(tzinfo=UTC))
            found.update(base + minute * 60 for minute in plan.minutes)
            continue
        for minute in plan.minutes:
            naive = start + timedelta(minutes=minute)
            if is_imaginary(naive, tz):
                if plan.fixed:
                    found.add(epoch(to_utc(after_gap(naive, tz), tz)))
                continue
            found.add(epoch(to_utc(naive, tz, fold=0)))
            if not plan.fixed:
                found.add(epoch(to_utc(naive, tz, fold=1)))  # same instant unless ambiguous
    return array("q", sorted(found))


def _plain_hour(tz: ZoneInfo, start: datetime) -> timedelta | None:
    """The wall hour's UTC offset when it has one throughout (no gap, no repeat), else None."""
    offsets = {
        tz.utcoffset(wall.replace(fold=fold))
        for wall in (start, start + timedelta(minutes=59))
        for fold in (0, 1)
    }
    return offsets.pop() if len(offsets) == 1 else None


def epoch(instant: datetime) -> int:
    return int(instant.timestamp())


class SteadyDay:
    """The fire times of a date without a transition, as a sequence (computed on access)."""

    __slots__ = ("base", "offsets")

    def __init__(self, base: int, offsets: tuple[int, ...]):
        self.base = base  # epoch seconds of local midnight
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, index: int) -> int:
        return self.base + self.offsets[index]


def day_times(plan: Plan, tz: ZoneInfo, day: date) -> SteadyDay | array:
    """Every fire time of a local date, UTC epoch seconds ascending."""
    offset = steady_offset(tz, day)
    if offset is None:
        return transition_day(plan, tz, day)
    base = (day.toordinal() - EPOCH_ORDINAL) * 86400 - int(offset.total_seconds())
    return SteadyDay(base, plan.offsets)


def index_after(times: SteadyDay | array, instant: float) -> int:
    """How many of a date's fire times (day_times) are at or before `instant` (epoch)."""
    if isinstance(times, SteadyDay):  # bisect the offsets themselves: C speed
        return bisect_right(times.offsets, instant - times.base)
    return bisect_right(times, instant)


def day_instants(plan: Plan, tz: ZoneInfo, day: date, after: datetime) -> Iterator[datetime]:
    """The fire times of a local date strictly after `after` (UTC), ascending, lazily."""
    times = day_times(plan, tz, day)
    for index in range(index_after(times, after.timestamp()), len(times)):
        yield datetime.fromtimestamp(times[index], UTC)
