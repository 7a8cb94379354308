"""Hourly and daily rollups of finished runs into MetricAggregate (one row per job and period).

A period is [start, start + 1 h/1 day) in UTC, keyed by the runs' finished_at. Rolling a period
up again recomputes and overwrites its rows (upsert), so the cluster may repeat it freely.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from metrics.models import MetricAggregate, PeriodType
from metrics.services import run_period_stats
from runs.models import Run

logger = logging.getLogger(__name__)

PERIOD_LENGTH = {PeriodType.HOURLY: timedelta(hours=1), PeriodType.DAILY: timedelta(days=1)}
# Recomputed on every firing: a run that committed a little after its hour ended still counts.
HOURS_BACK = 3
DAYS_BACK = 2
# Fire a few seconds after the boundary so runs finishing at :59:59.9 have committed.
SETTLE_SECONDS = 5


def period_floor(value: datetime, period_type: str) -> datetime:
    value = value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if period_type == PeriodType.DAILY:
        value = value.replace(hour=0)
    return value


def rollup_period(*, period_type: str, period_start: datetime) -> int:
    """Upsert the aggregates of every job with runs finished in the period; returns rows written.

    Jobs with no runs in the period get no row. An existing row is never wiped because its runs
    are gone (retention deletes runs, aggregates are kept).
    """
    period_start = period_floor(period_start, period_type)
    period_end = period_start + PERIOD_LENGTH[PeriodType(period_type)]
    trunc = TruncHour if period_type == PeriodType.HOURLY else TruncDay
    written = 0
    job_ids = (
        Run.objects.filter(
            finished_at__gte=period_start, finished_at__lt=period_end, job__isnull=False
        )
        .values_list("job_id", flat=True)
        .distinct()
    )
    for job_id in list(job_ids):
        runs = Run.objects.filter(
            job_id=job_id, finished_at__gte=period_start, finished_at__lt=period_end
        )
        figures = run_period_stats(runs, trunc=trunc).get(period_start)
        if not figures:
            continue  # only skipped/cancelled runs this period
        with transaction.atomic():  # one short transaction per row
            MetricAggregate.objects.update_or_create(
                job_id=job_id,
                period_type=period_type,
                period_start=period_start,
                defaults={
                    **figures,
                    "avg_duration_ms": _int(figures["avg_duration_ms"]),
                    "avg_memory_bytes": _int(figures["avg_memory_bytes"]),
                },
            )
        written += 1
    return written


def _int(value):
    return int(value) if value is not None else None


def rollup_range(*, start: datetime, end: datetime) -> dict[str, int]:
    """Roll up every complete hour and day that starts in [start, end)."""
    counts = {}
    for period_type in (PeriodType.HOURLY, PeriodType.DAILY):
        length = PERIOD_LENGTH[period_type]
        cursor = period_floor(start, period_type)
        if cursor < start:
            cursor += length
        periods = written = 0
        while cursor < end and cursor + length <= timezone.now():
            written += rollup_period(period_type=period_type, period_start=cursor)
            periods += 1
            cursor += length
        counts[period_type.value] = written
        counts[f"{period_type.value}_periods"] = periods
    return counts


def rollup_recent(*, now: datetime | None = None) -> int:
    """The cluster's job: the last few complete hours, and the last complete days.

    Cheap enough to run at every hour boundary (and at start-up, which catches up after a
    short downtime); `manage.py rollupmetrics --from --to` backfills longer gaps.
    """
    now = now or timezone.now()
    hour = period_floor(now, PeriodType.HOURLY)
    day = period_floor(now, PeriodType.DAILY)
    written = 0
    for back in range(1, HOURS_BACK + 1):
        written += rollup_period(
            period_type=PeriodType.HOURLY, period_start=hour - timedelta(hours=back)
        )
    for back in range(1, DAYS_BACK + 1):
        written += rollup_period(
            period_type=PeriodType.DAILY, period_start=day - timedelta(days=back)
        )
    return written


def next_hour_boundary(now: float) -> float:
    """Epoch seconds of the next hour boundary plus a settle delay (the cluster Step's clock)."""
    return (now // 3600 + 1) * 3600 + SETTLE_SECONDS
