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
from django.db.models import F, Q, Sum
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


def _delete_children(model, run_ids: list, pause: float, deadline: float | None) -> tuple:
    """DELETE ... WHERE id IN (SELECT id ... LIMIT n) until none is left or the deadline
    passes; returns (rows, log lines, finished). n adapts so each statement (one short write
    transaction) stays near TARGET_DELETE_SECONDS: a chunk may hold ten lines or a megabyte."""
    rows = lines = 0
    size = ROWS_PER_DELETE
    while True:
        batch = model.objects.filter(run_id__in=run_ids).order_by("id").values("id")[:size]
        started = time.monotonic()
        if model is LogChunk:
            span = F("last_line") - F("first_line") + 1
            lines += LogChunk.objects.filter(id__in=batch).aggregate(n=Sum(span))["n"] or 0
        count = model.objects.filter(id__in=batch).delete()[0]
        took = time.monotonic() - started
        rows += count
        if count < size:
            return rows, lines, True
        if took < TARGET_DELETE_SECONDS / 2:
            size = min(size * 2, MAX_ROWS_PER_DELETE)
        elif took > TARGET_DELETE_SECONDS * 2:
            size = max(size // 2, 10)
        # Rest at least as long as the DELETE held the write lock (a duty cycle of at most
        # one half), so API and worker writes queued behind it get their turn.
        time.sleep(max(pause, took))
        if deadline is not None and time.monotonic() >= deadline:
            return rows, lines, False


def retention_prune(
    *,
    days: int | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    time_budget: float | None = None,
    pause: float = 0.002,
) -> PruneResult:
    """Delete what is past retention. `time_budget` (seconds) stops early, between two
    DELETEs (result.done False), so a caller like the cluster loop can interleave other work."""
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

    deadline = None if time_budget is None else time.monotonic() + time_budget
    while True:
        run_ids = list(runs.values_list("id", flat=True)[:RUNS_PER_BATCH])
        if not run_ids:
            result.done = True
            return result
        chunk_rows, lines, chunks_done = _delete_children(LogChunk, run_ids, pause, deadline)
        result.log_chunks += chunk_rows
        result.log_lines += lines
        if not chunks_done:
            return result  # out of time; the next pass picks these runs up again
        result.samples += _delete_children(MetricSample, run_ids, pause, None)[0]
        # children are gone: what is left per run (notifications, empty retries) is small
        result.runs += (
            Run.objects.filter(id__in=run_ids)
            .filter(id__in=prunable_runs(cutoff).values("id"))
            .delete()[1]
            .get("runs.Run", 0)
        )
        result.batches += 1
        if deadline is not None and time.monotonic() >= deadline:
            return result
