"""Pure schedule math (no Django): validate a grid or 5-field cron schedule and list its fire
times in the job's IANA zone, as UTC instants, with Debian cron's DST rules.

How the grid is evaluated: matching local dates are walked in order (years x months x days,
filtered by weekday), then the selected hours, then the selected minutes. On a date whose UTC
offset never changes, local order is UTC order, so instants are produced lazily and early ones
pruned per hour. On a date with a DST transition, the whole date is materialised and sorted,
once per schedule, zone and date (cached): a grid with both hours and minutes restricted is
"fixed-time" (like a cron job whose minute and hour fields do not start with `*`): a slot in
the spring-forward gap fires at the first real minute after the jump, a slot in the repeated
hour fires once (the first time). Otherwise every real instant that matches fires (both passes
of a repeated hour, none in the gap).

Cron expressions are parsed by cronsim (Debian cron's syntax and its day-of-month OR
day-of-week rule) and then walked exactly like the grid, so both follow the same DST rules.
(cronsim's own iterator skips matches in zones with 30-minute DST shifts, e.g. Lord Howe.)
A one-value range with a step (`12-12/1`, `MON-MON/2`) is read as Vixie cron reads it: that
one value (cronsim would read "from there to the maximum").
Weekday 7 = Sunday is accepted in cron expressions (as Debian cron does); the grid's weekdays
are 0-6 with 0 = Sunday (the API's format, docs/api.md) and 7 is rejected there.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from jobs.timezones import timezone_valid
from jobs.zonedays import Plan, day_instants, day_times, index_after

GRID_FIELDS = ("years", "months", "days", "weekdays", "hours", "minutes")
SCHEDULE_KEYS = (*GRID_FIELDS, "cron_expr")
GRID_RANGES = {
    "years": (1970, 9998),  # a slot late in 9999 would overflow datetime in the zone walk
    "months": (1, 12),
    "days": (1, 31),
    "weekdays": (0, 6),
    "hours": (0, 23),
    "minutes": (0, 59),
}
GRID_LABELS = {
    "years": "Year",
    "months": "Month",
    "days": "Day",
    "weekdays": "Weekday",
    "hours": "Hour",
    "minutes": "Minute",
}
MAX_YEARS_LISTED = 200
HORIZON_YEARS = 50  # like cronsim: a schedule with no match within 50 years never fires
CRON_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
CRON_FIELD_HELP = ("0-59", "0-23", "1-31", "1-12 or JAN-DEC", "0-7 or SUN-SAT (0 and 7 = Sunday)")
CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTH_NAMES = calendar.month_name


class ScheduleError(ValueError):
    """Invalid schedule or zone; `errors` maps a field name to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))


# ---- time zones ------------------------------------------------------------------------------


def zone_get(tz_name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or ScheduleError({"timezone": ...})."""
    if not isinstance(tz_name, str) or not tz_name.strip():
        raise ScheduleError({"timezone": ["A time zone is required (an IANA name like UTC)."]})
    unknown = ScheduleError(
        {"timezone": [f"Unknown time zone {tz_name!r}: use an IANA name like Europe/Berlin."]}
    )
    if not timezone_valid(tz_name):
        raise unknown
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise unknown from None


_zone_named = lru_cache(maxsize=1024)(zone_get)  # every job of every tick asks


def _zone(tz: ZoneInfo | str) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else _zone_named(tz)


# ---- validation ------------------------------------------------------------------------------


def _clean_grid_field(name: str, value) -> tuple[list[int] | None, list[str]]:
    if value is None:
        return None, []
    if not isinstance(value, list | tuple):
        return None, ["Must be a list of whole numbers, or null for any."]
    low, high = GRID_RANGES[name]
    label = GRID_LABELS[name]
    errors: list[str] = []
    cleaned: set[int] = set()
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            errors.append(f"{item!r} is not a whole number.")
        elif not low <= item <= high:
            hint = " (0 = Sunday; Sunday is 0, not 7)" if name == "weekdays" else ""
            errors.append(f"{label} {item} is out of range {low}-{high}{hint}.")
        else:
            cleaned.add(item)
    if name == "years" and len(cleaned) > MAX_YEARS_LISTED:
        errors.append(f"List at most {MAX_YEARS_LISTED} years.")
    if errors:
        return None, errors
    return (sorted(cleaned) or None), []


def cron_normalize(expr: str) -> str:
    """Collapse whitespace and upper-case names; macros (@daily...) are kept lower-case."""
    text = " ".join(expr.split())
    return text.lower() if text.startswith("@") else text.upper()


# `a-a/s`: cronsim reads a one-value range with a step as "a to the field's maximum in steps
# of s" (as it reads `a/s`); Vixie/Debian cron set the values a, a+s, ... up to the range's
# end, which is a alone. Written as `a` before cronsim sees it.
_ONE_VALUE_STEP = re.compile(r"(?<![^,])([0-9A-Z]+)-([0-9A-Z]+)/[0-9]+(?![^,])")


def _one_value_range(match: re.Match) -> str:
    start, end = match.group(1), match.group(2)
    same = start == end or (start.isdigit() and end.isdigit() and int(start) == int(end))
    return start if same else match.group(0)


@lru_cache(maxsize=4096)
def cron_fields(expr: str) -> str:
    """The 5-field form of a (normalized) expression as Vixie cron reads it: macros
    expanded, and each `a-a/s` written as `a`."""
    expr = CRON_MACROS.get(expr, expr)
    return " ".join(_ONE_VALUE_STEP.sub(_one_value_range, part) for part in expr.split())


def _cron_errors(expr: str) -> list[str]:
    if expr.startswith("@"):
        if expr in CRON_MACROS:
            return []
        return [f"Unknown macro {expr!r}; known: {', '.join(CRON_MACROS)}."]
    parts = expr.split()
    if len(parts) != 5:
        return [
            "A cron expression has 5 fields (minute hour day-of-month month day-of-week); "
            f"got {len(parts)}."
        ]
    errors = []
    probe_at = datetime(2000, 1, 1)
    for index, part in enumerate(parts):
        alone = ["*"] * 5
        alone[index] = part
        try:
            CronSim(" ".join(alone), probe_at)
        except (CronSimError, ValueError, IndexError):
            errors.append(
                f"Bad {CRON_FIELD_NAMES[index]} field {part!r} "
                f"(allowed {CRON_FIELD_HELP[index]}, lists, ranges, steps, *)."
            )
    if errors:
        return errors
    try:
        CronSim(expr, probe_at)
    except (CronSimError, ValueError, IndexError):
        return ["This expression never fires: no selected month has the selected day."]
    return []


def _impossible_dates(months: list[int] | None, days: list[int] | None) -> bool:
    if not days:
        return False
    longest = max(calendar.monthrange(2000, month)[1] for month in (months or range(1, 13)))
    return min(days) > longest


def schedule_validate(data: dict, tz_name: str, *, now: datetime | None = None) -> dict:
    """Clean a schedule dict (grid fields and/or cron_expr) for a zone, or raise ScheduleError.

    Returns every key of SCHEDULE_KEYS: grid fields as sorted de-duplicated lists or None (any),
    cron_expr as a normalized string ("" when the grid is used). A schedule that can never fire
    (February 30, only past years) is an error, as is an unknown zone.
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        raise ScheduleError({"schedule": ["Must be an object with grid fields or cron_expr."]})
    for key in data:
        if key not in SCHEDULE_KEYS:
            errors[str(key)] = ["Unknown schedule field."]
    tz = None
    try:
        tz = zone_get(tz_name)
    except ScheduleError as exc:
        errors.update(exc.errors)

    cleaned: dict = {}
    for name in GRID_FIELDS:
        value, messages = _clean_grid_field(name, data.get(name))
        cleaned[name] = value
        if messages:
            errors[name] = messages

    raw_cron = data.get("cron_expr") or ""
    if not isinstance(raw_cron, str):
        errors["cron_expr"] = ["Must be a string."]
        raw_cron = ""
    cron_expr = cron_normalize(raw_cron)
    cleaned["cron_expr"] = cron_expr
    if cron_expr:
        grid_given = [name for name in GRID_FIELDS if data.get(name)]
        if grid_given:
            errors["cron_expr"] = [
                "Give either a cron expression or the grid fields "
                f"({', '.join(grid_given)}), not both."
            ]
        else:
            messages = _cron_errors(cron_expr)
            if messages:
                errors["cron_expr"] = messages
    elif (
        "days" not in errors
        and "months" not in errors
        and _impossible_dates(cleaned["months"], cleaned["days"])
    ):
        months = ", ".join(MONTH_NAMES[m] for m in cleaned["months"] or range(1, 13))
        errors["days"] = [f"None of the selected days occurs in {months}."]

    if errors:
        raise ScheduleError(errors)
    now = now or datetime.now(UTC)
    if schedule_next(cleaned, tz, now) is None:
        if cleaned["years"] and max(cleaned["years"]) < now.astimezone(tz).year:
            raise ScheduleError({"years": ["Every selected year is in the past."]})
        field = "cron_expr" if cron_expr else "schedule"
        raise ScheduleError({field: ["This schedule never fires again."]})
    return cleaned


# ---- evaluation ------------------------------------------------------------------------------


def is_fixed_time(schedule: dict) -> bool:
    """Debian cron's "fixed-time job": neither minute nor hour is a wildcard."""
    cron_expr = schedule.get("cron_expr") or ""
    if cron_expr:
        minute, hour = cron_fields(cron_expr).split()[:2]
        return not minute.startswith("*") and not hour.startswith("*")
    return bool(schedule.get("hours")) and bool(schedule.get("minutes"))


def _grid_plan(key: tuple) -> Plan:
    years, months, days, weekdays, hours, minutes = key[1:]

    def day_ok(day: date) -> bool:
        # Python's Monday=0..Sunday=6 -> the grid's Sunday=0..Saturday=6
        return not weekdays or (day.weekday() + 1) % 7 in weekdays

    return Plan(
        key=key,
        years=years,
        months=months or range(1, 13),
        days=days,
        day_ok=day_ok,
        hours=hours or range(24),
        minutes=minutes or range(60),
        fixed=is_fixed_time({"hours": hours, "minutes": minutes}),
        every_day=not (years or months or days or weekdays),
    )


def _cron_plan(key: tuple) -> Plan:
    # cronsim parses (names, ranges, steps, lists, L, #) and decides the day rule (OR when
    # both day fields are restricted); walking the calendar and DST are ours, as for the grid.
    fields = key[1]
    parsed = CronSim(fields, datetime(2000, 1, 1))
    return Plan(
        key=key,
        years=None,
        months=sorted(parsed.months),
        days=None,
        day_ok=parsed.match_day,
        hours=sorted(parsed.hours),
        minutes=sorted(parsed.minutes),
        fixed=is_fixed_time({"cron_expr": fields}),
        every_day=fields.split()[2:] == ["*", "*", "*"],
    )


@lru_cache(maxsize=4096)
def _plan_cached(key: tuple) -> Plan:
    return _cron_plan(key) if key[0] == "cron" else _grid_plan(key)


def _plan(schedule: dict) -> Plan:
    """The schedule's plan, parsed once per distinct schedule (every job of a tick asks)."""
    cron_expr = schedule.get("cron_expr")
    if cron_expr:
        return _plan_cached(("cron", cron_fields(cron_expr)))
    # rows written by hand may be unsorted or repeat values
    listed = (tuple(sorted(set(schedule.get(name) or ()))) or None for name in GRID_FIELDS)
    return _plan_cached(("grid", *listed))


def _dates(plan: Plan, start: date) -> Iterator[date]:
    if plan.every_day:
        last = date(start.year + HORIZON_YEARS, 12, 31)
        while start <= last:
            yield start
            start += timedelta(days=1)
        return
    years = plan.years or range(start.year, start.year + HORIZON_YEARS + 1)
    for year in years:
        if year < start.year:
            continue
        for month in plan.months:
            if (year, month) < (start.year, start.month):
                continue
            month_length = calendar.monthrange(year, month)[1]
            for day in plan.days or range(1, month_length + 1):
                if day > month_length:
                    break
                current = date(year, month, day)
                if current >= start and plan.day_ok(current):
                    yield current


def _plan_iter(plan: Plan, tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    # one date back: a slot of yesterday's local date can be shifted past `after` by a gap
    start = after.astimezone(tz).date() - timedelta(days=1)
    last = after
    for day in _dates(plan, start):
        for instant in day_instants(plan, tz, day, last):
            yield instant
            last = instant


def schedule_iter(schedule: dict, tz: ZoneInfo | str, after: datetime) -> Iterator[datetime]:
    """Fire times strictly after `after` (aware), ascending, as UTC datetimes."""
    if after.tzinfo is None:
        raise ValueError("`after` must be an aware datetime")
    return _plan_iter(_plan(schedule), _zone(tz), after.astimezone(UTC))


def schedule_next(schedule: dict, tz: ZoneInfo | str, after: datetime) -> datetime | None:
    """The first fire time strictly after `after`, in UTC; None if it never fires again."""
    return next(iter(schedule_iter(schedule, tz, after)), None)


def schedule_window(
    schedule: dict, tz: ZoneInfo | str, after: datetime, until: datetime, *, keep: int
) -> tuple[list[datetime], int]:
    """The last `keep` fire times in (after, until], ascending, and how many there are in
    all. Counted per local date (a date's count is a bisection, not a walk over its slots), so
    a month of every-minute slots costs about thirty steps, not 43,200."""
    if after.tzinfo is None or until.tzinfo is None:
        raise ValueError("`after` and `until` must be aware datetimes")
    plan, zone = _plan(schedule), _zone(tz)
    last, high = after.timestamp(), until.timestamp()
    end = until.astimezone(zone).date() + timedelta(days=1)
    spans = []
    total = 0
    for day in _dates(plan, after.astimezone(zone).date() - timedelta(days=1)):
        if day > end:
            break
        times = day_times(plan, zone, day)
        first, stop = index_after(times, last), index_after(times, high)
        if stop > first:  # a time a shifted slot of an earlier date already gave is not new
            spans.append((times, first, stop))
            total += stop - first
            last = times[stop - 1]
    kept: list[int] = []
    for times, first, stop in reversed(spans):
        if len(kept) >= keep:
            break
        kept.extend(times[index] for index in range(stop - 1, first - 1, -1)[: keep - len(kept)])
    return [datetime.fromtimestamp(instant, UTC) for instant in reversed(kept)], total


def schedule_preview(
    schedule: dict, tz: ZoneInfo | str, after: datetime, count: int = 5
) -> list[datetime]:
    return list(islice(schedule_iter(schedule, tz, after), count))


def grid_matches(schedule: dict, local: datetime) -> bool:
    """Does a local wall time match the grid (all fields ANDed, empty = any)?"""
    values = {
        "years": local.year,
        "months": local.month,
        "days": local.day,
        "weekdays": (local.weekday() + 1) % 7,
        "hours": local.hour,
        "minutes": local.minute,
    }
    return all(not schedule.get(name) or values[name] in schedule[name] for name in GRID_FIELDS)


def empty_schedule() -> dict:
    return dict.fromkeys(GRID_FIELDS) | {"cron_expr": ""}
