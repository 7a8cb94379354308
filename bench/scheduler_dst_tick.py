"""Schedule work of one minute tick on a DST transition day: 1,000 every-minute jobs in four
zones that fall back on 2025-10-26 (target <= 50 ms per tick).

Per due job the tick asks what tick.py's _due_slots asks: the slots since next_run_at (counted,
the last 201 kept) and the next slot after now. Times the first tick of the day (each zone's
day converted once) and the ticks after it (cached). No database: the schedule maths only.
Usage: uv run python bench/scheduler_dst_tick.py [--jobs 1000] [--ticks 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs import zonedays
from jobs.schedule import empty_schedule, schedule_next, schedule_window

TARGET_MS = 50
ZONES = ("Europe/Berlin", "Europe/London", "Europe/Paris", "Europe/Lisbon")
FALL_BACK = datetime(2025, 10, 26, 0, 0, tzinfo=UTC)


def tick(jobs: int, now: datetime) -> float:
    started = time.perf_counter()
    schedule = empty_schedule()
    for index in range(jobs):
        zone = ZONES[index % len(ZONES)]
        schedule_window(schedule, zone, now - timedelta(minutes=1), now, keep=201)
        schedule_next(schedule, zone, now)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=60)
    args = parser.parse_args()
    tick(args.jobs, FALL_BACK - timedelta(days=1))  # a running cluster: zones loaded, warm
    zonedays.transition_day.cache_clear()
    first = tick(args.jobs, FALL_BACK + timedelta(seconds=0.2))
    later = [
        tick(args.jobs, FALL_BACK + timedelta(minutes=minute, seconds=0.2))
        for minute in range(1, args.ticks + 1)
    ]
    p95 = sorted(later)[int(0.95 * (len(later) - 1))]
    print(f"{args.jobs} every-minute jobs in {len(ZONES)} zones on their fall-back day")
    print(f"first tick of the day: {first:.1f} ms (each zone's day converted once)")
    print(f"next {len(later)} ticks: p50 {statistics.median(later):.1f} ms, p95 {p95:.1f} ms")
    verdict = "met" if max(first, p95) <= TARGET_MS else "MISSED"
    print(f"target <= {TARGET_MS} ms per tick: {verdict}")


if __name__ == "__main__":
    main()
