"""`manage.py pruneruns [--dry-run] [--days N]`: delete runs, logs and samples past retention."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from metrics.retention import retention_prune


class Command(BaseCommand):
    help = (
        "Delete finished runs (with their log lines and samples) older than LOG_RETENTION_DAYS, "
        "in small batches. Pending/running runs and metric aggregates are never touched."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Override LOG_RETENTION_DAYS")
        parser.add_argument("--dry-run", action="store_true", help="Only count what would go")

    def handle(self, *args, days=None, dry_run=False, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        result = retention_prune(days=days, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {result.runs} runs, {result.log_lines} log lines "
            f"({result.log_chunks} chunks), {result.samples} samples "
            f"finished before {result.cutoff:%Y-%m-%d %H:%M:%S}Z"
        )
