"""`manage.py rollupmetrics [--from DATE] [--to DATE]`: (re)build hourly and daily aggregates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from metrics.rollups import rollup_range


def _instant(text: str) -> datetime:
    value = parse_datetime(text)
    if value is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"not a date or datetime: {text!r} (use 2026-03-01 or ISO 8601)")
        value = datetime(day.year, day.month, day.day)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


class Command(BaseCommand):
    help = (
        "Recompute the hourly and daily aggregates for every complete UTC period that starts in "
        "[--from, --to) (default: the last 2 days). Idempotent: periods are upserted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", help="Start (date or ISO datetime, UTC)")
        parser.add_argument("--to", dest="end", help="End, exclusive (default now)")

    def handle(self, *args, start=None, end=None, **options):
        end_at = _instant(end) if end else timezone.now()
        start_at = _instant(start) if start else end_at - timedelta(days=2)
        if start_at >= end_at:
            raise CommandError("--from must be before --to")
        counts = rollup_range(start=start_at, end=end_at)
        self.stdout.write(
            f"hourly: {counts['hourly_periods']} periods, {counts['hourly']} rows; "
            f"daily: {counts['daily_periods']} periods, {counts['daily']} rows"
        )
