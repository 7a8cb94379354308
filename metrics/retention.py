"""Retention: delete runs (with their log chunks, samples, notifications) older than
LOG_RETENTION_DAYS, in small batches so the API never waits long; aggregates are kept.

Every batch is its own short transaction and the selection is by age, so a pass killed half-way
(kill -9) simply continues where it stopped the next time it runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from metrics.models import MetricSample
from runs.models import LogChunk, Run, RunStatus

RUNS_PER_BATCH = 50
ROWS_PER_DELETE = 200  # first size of a DELETE (log chunks / samples); adapts to the target
MAX_ROWS_PER_DELETE = 5000
TARGET_DELETE_SECONDS = 0.02


@dataclass
class PruneResult:
    cutoff: datetime
    runs: int = 0
    log_chunks: int = 0
    log_lines: int = 0
    samples: int = 0
    done: bool = False  # False: stopped at the time budget, more is left
    dry_run: bool = False
    batches: int = field(default=0)


def retention_cutoff(*, now: datetime, days: int | None = None) -> datetime:
    days = settings.TASKFLOW["LOG_RETENTION_DAYS"] if days is None else days
    return now - timedelta(days=days)


def prunable_runs(cutoff: datetime):
    """Finished runs created and finished before the cutoff. Never pending/running ones, and
    never a run whose retry is still active or recent (deleting the parent would cascade)."""
    active = [RunStatus.PENDING, RunStatus.RUNNING]
    return (
        Run.objects.filter(created_at__lt=cutoff, status__in=RunStatus.finished())
        .filter(Q(finished_at__isnull=True) | Q(finished_at__lt=cutoff))
        .exclude(retries__status__in=active)
        .exclude(retries__created_at__gte=cutoff)
    )


def _delete_children(model, run_ids: list, pause: float) -> int:
    """DELETE ... WHERE id IN (SELECT id ... LIMIT n) until none is left. n adapts so each
    statement (one short write transaction) stays near TARGET_DELETE_SECONDS: a chunk may hold
    ten lines or a megabyte."""
    deleted = 0
    size = ROWS_PER_DELETE
    while True:
        batch = model.objects.filter(run_id__in=run_ids).order_by().values("id")[:size]
        started = time.monotonic()
        count = model.objects.filter(id__in=batch).delete()[0]
        took = time.monotonic() - started
        deleted += count
        if count < size:
            return deleted
        if took < TARGET_DELETE_SECONDS / 2:
            size = min(size * 2, MAX_ROWS_PER_DELETE)
        elif took > TARGET_DELETE_SECONDS * 2:
            size = max(size // 2, 10)
        # Rest at least as long as the DELETE held the write lock (a duty cycle of at most
        # one half), so API and worker writes queued behind it get their turn.
        time.sleep(max(pause, took))


def retention_prune(
    *,
    days: int | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    time_budget: float | None = None,
    pause: float = 0.002,
) -> PruneResult:
    """Delete what is past retention. `time_budget` (seconds) stops early between batches
    (result.done False) so a caller like the cluster loop can interleave other work."""
    now = now or timezone.now()
    cutoff = retention_cutoff(now=now, days=days)
    result = PruneResult(cutoff=cutoff, dry_run=dry_run)
    runs = prunable_runs(cutoff)
    if dry_run:
        result.runs = runs.count()
        chunks = LogChunk.objects.filter(run__in=runs.values("id"))
        result.log_chunks = chunks.count()
        result.log_lines = sum(
            last - first + 1 for first, last in chunks.values_list("first_line", "last_line")
        )
        result.samples = MetricSample.objects.filter(run__in=runs.values("id")).count()
        result.done = True
        return result

    started = time.monotonic()
    while True:
        run_ids = list(runs.values_list("id", flat=True)[:RUNS_PER_BATCH])
        if not run_ids:
            result.done = True
            return result
        lines = LogChunk.objects.filter(run_id__in=run_ids).values_list("first_line", "last_line")
        result.log_lines += sum(last - first + 1 for first, last in lines)
        result.log_chunks += _delete_children(LogChunk, run_ids, pause)
        result.samples += _delete_children(MetricSample, run_ids, pause)
        # children are gone: what is left per run (notifications, empty retries) is small
        result.runs += (
            Run.objects.filter(id__in=run_ids)
            .filter(id__in=prunable_runs(cutoff).values("id"))
            .delete()[1]
            .get("runs.Run", 0)
        )
        result.batches += 1
        if time_budget is not None and time.monotonic() - started >= time_budget:
            return result
