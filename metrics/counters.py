"""Counters of finished runs for /metrics: exact and monotonic, read without touching history.

RunCounters (one row) holds the figures of every run that finished before `counted_until`; a
scrape adds the runs finished since then (a window of seconds, read from
run_finished_cover_idx). The cluster folds that window in every FOLD_SECONDS: figures are
counted per minute of finished_at and each minute's figures are kept for KEEP_SECONDS, so a run
whose final commit landed after its minute was counted (a write lock, a full disk) is added
when the minute is counted again: RECHECK_SECONDS after the fact at the latest. A minute is
never counted lower than before, so deleting runs (retention, a deleted job) never lowers a
counter. docs/architecture.md, "Read paths and idle (issue 14)".
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from metrics.models import RunCounters
from runs.models import Run, RunStatus

# seconds; jobs range from `true` to hour-long backups
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)
# what is counted, by name: finished runs per status, then the duration histogram (cumulative
# buckets, runs with a duration, their sum in ms). Append only: slices store them in this order.
FINISHED = tuple(RunStatus.finished())
FIGURES = (
    *FINISHED,
    *(f"le_{bound}" for bound in DURATION_BUCKETS),
    "timed",
    "sum_ms",
)
FOLD_SECONDS = 30.0  # the cluster folds the finished runs in this often
RECHECK_SECONDS = 600.0  # and counts the last KEEP_SECONDS of them again this often
KEEP_SECONDS = 3600  # how late a run's final commit may land and still be counted
MINUTE = 60
ROW = 1  # the one RunCounters row


def _aggregates() -> dict:
    # finished_at is never null in a finished_at range: counting it counts rows; no status in
    # the WHERE clause, so the range alone picks run_finished_cover_idx (status, duration in it)
    figures = {status: Count("finished_at", filter=Q(status=status)) for status in FINISHED}
    for bound in DURATION_BUCKETS:
        figures[f"le_{bound}"] = Count("duration_ms", filter=Q(duration_ms__lte=bound * 1000))
    return figures | {"timed": Count("duration_ms"), "sum_ms": Sum("duration_ms")}


def _figures(since: datetime | None, until: datetime | None = None) -> list[int]:
    """FIGURES of the runs finished in [since, until) (None: unbounded), in order."""
    runs = Run.objects.filter(finished_at__isnull=False)
    if since is not None:
        runs = runs.filter(finished_at__gte=since)
    if until is not None:
        runs = runs.filter(finished_at__lt=until)
    row = runs.order_by().aggregate(**_aggregates())
    return [int(row[name] or 0) for name in FIGURES]


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _minute(instant: datetime) -> int:
    return int(instant.timestamp()) // MINUTE * MINUTE


def counters_totals() -> dict[str, int]:
    """Every figure over all runs ever finished: the folded totals plus the live window."""
    row = RunCounters.objects.filter(pk=ROW).values("counted_until", "totals").first()
    totals = row["totals"] if row else {}
    until = row["counted_until"] if row else None
    live = _figures(until)
    return {name: int(totals.get(name, 0)) + live[index] for index, name in enumerate(FIGURES)}


def counters_fold(*, now: datetime | None = None, recheck: bool = False) -> bool:
    """Fold the runs finished since the last fold into RunCounters; with `recheck`, first count
    the last KEEP_SECONDS again (per minute, only when their sum changed). The counting is
    done outside the write transaction; the row is written only if no other fold wrote it
    meanwhile (another host's cluster) and something changed. Returns True when it wrote."""
    now = now or timezone.now()
    keep_from = _minute(now) - KEEP_SECONDS
    row = RunCounters.objects.filter(pk=ROW).first() or RunCounters()
    until = row.counted_until
    slices = {int(minute): counts for minute, counts in row.slices.items()}
    added = [0] * len(FIGURES)
    if until is None or _minute(until) < keep_from:
        # first fold, or idle/away for a while: what precedes the kept minutes goes in bulk
        added = _figures(until, _at(keep_from))
        first = keep_from
    elif recheck and _late_runs(slices, since=keep_from, until=until):
        first = keep_from
    elif Run.objects.filter(finished_at__gte=until, finished_at__lt=now).exists():
        first = _minute(until)
    else:
        return False  # nothing finished since the last fold: no query per minute, no write
    for minute in range(first, _minute(now) + MINUTE, MINUTE):
        counts = _figures(_at(minute), min(_at(minute + MINUTE), now))
        before = slices.get(minute, [0] * len(FIGURES))
        gained = [max(0, new - old) for new, old in zip(counts, before, strict=True)]
        if any(gained):
            slices[minute] = [max(new, old) for new, old in zip(counts, before, strict=True)]
        added = [total + more for total, more in zip(added, gained, strict=True)]
    if not any(added) and until is not None and _minute(until) >= keep_from:
        return False  # nothing new after all (a run deleted meanwhile): no write
    return _store(row, now=now, added=added, slices=slices, keep_from=keep_from)


def _late_runs(slices: dict, *, since: int, until: datetime) -> bool:
    """Do the runs finished in [since, until) now add up to more than the kept minutes say?"""
    counted = [0] * len(FIGURES)
    for minute, counts in slices.items():
        if minute >= since:
            counted = [total + count for total, count in zip(counted, counts, strict=True)]
    now = _figures(_at(since), until)
    return any(new > old for new, old in zip(now, counted, strict=True))


def _store(row: RunCounters, *, now, added: list[int], slices: dict, keep_from: int) -> bool:
    try:
        with transaction.atomic():
            return _write(row, now=now, added=added, slices=slices, keep_from=keep_from)
    except IntegrityError:  # another host's first fold created the row meanwhile
        return False


def _write(row: RunCounters, *, now, added: list[int], slices: dict, keep_from: int) -> bool:
    current = RunCounters.objects.select_for_update().filter(pk=ROW).first()
    if current is None:
        if row.pk is not None:
            return False  # the row went (a flushed database): the next fold starts afresh
        current = RunCounters(pk=ROW)
    elif row.pk is None or current.counted_until != row.counted_until:
        return False  # another fold got there first: the next one starts from it
    totals = {name: int(current.totals.get(name, 0)) for name in FIGURES}
    for name, more in zip(FIGURES, added, strict=True):
        totals[name] += more
    current.totals = totals
    current.slices = {str(m): c for m, c in sorted(slices.items()) if m >= keep_from}
    current.counted_until = now
    current.save()
    return True
