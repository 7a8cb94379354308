"""A schedule in words, for the job page and the job list ("Every hour at :15", "At 09:00 on
Mon to Fri", "Manual only"), following the grid's rules: every field ANDed, an empty field means
any (docs/architecture.md, record 3)."""

from __future__ import annotations

WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
MAX_TIMES = 6  # listed as times ("At 09:00, 12:30"); beyond that, minutes and hours apart
MANUAL_ONLY = "Manual only"
EVERY_MINUTE_CRON = "* * * * *"  # the editor's "Every minute" preset
TO = "\u2013"  # an en dash between the ends of a range: Mon\u2013Fri


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _ranges(values: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 5] -> [(1, 3), (5, 5)]"""
    spans: list[tuple[int, int]] = []
    for value in sorted(values):
        if spans and value == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], value)
        else:
            spans.append((value, value))
    return spans


def _named(values: list[int], names: list[str], offset: int = 0) -> str:
    parts = []
    for low, high in _ranges(values):
        if high - low >= 2:
            parts.append(f"{names[low - offset]}{TO}{names[high - offset]}")
        else:
            parts.extend(names[v - offset] for v in range(low, high + 1))
    return _join(parts)


def _numbers(values: list[int], width: int = 1) -> str:
    parts = []
    for low, high in _ranges(values):
        if high - low >= 2:
            parts.append(f"{low:0{width}d}{TO}{high:0{width}d}")
        else:
            parts.extend(f"{v:0{width}d}" for v in range(low, high + 1))
    return _join(parts)


def _time_part(minutes: list[int], hours: list[int]) -> str:
    if not minutes and not hours:
        return "Every minute"
    if not hours:
        return "Every hour at " + _join([f":{m:02d}" for m in minutes])
    if not minutes:
        return f"Every minute of hour {_numbers(hours, 2)}"
    if len(minutes) * len(hours) <= MAX_TIMES:
        return "At " + _join([f"{h:02d}:{m:02d}" for h in hours for m in minutes])
    return f"At minute {_numbers(minutes, 2)} of hour {_numbers(hours, 2)}"


def schedule_words(schedule: dict | None) -> str:
    """`schedule` as jobs.services.job_schedule returns it (None: the job has no schedule)."""
    if schedule is None:
        return MANUAL_ONLY
    if schedule.get("cron_expr") == EVERY_MINUTE_CRON:
        return "Every minute"
    if schedule.get("cron_expr"):
        return f"Cron {schedule['cron_expr']}"
    words = _time_part(schedule.get("minutes") or [], schedule.get("hours") or [])
    if schedule.get("weekdays"):
        words += " on " + _named(schedule["weekdays"], WEEKDAYS)
    if schedule.get("days"):
        words += " on day " + _numbers(schedule["days"]) + " of the month"
    if schedule.get("months"):
        words += " in " + _named(schedule["months"], MONTHS, offset=1)
    if schedule.get("years"):
        words += " in " + _join([str(y) for y in schedule["years"]])
    return words
