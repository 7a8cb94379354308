"""Tell live viewers that a run changed (new log lines, a sample, a status).

The database is the truth: WebSocket consumers replay and follow by line number from it, so
with no Redis this has nothing to do (daphne and the worker are separate processes and
Channels' in-memory layer cannot cross them). With REDIS_URL set, a nudge goes to the run's
group and to the dashboard group at once, so followers read the new rows without waiting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.utils import timezone

from runs.logformat import decode_chunk
from runs.models import LogChunk, Run, RunStatus
from runs.seams import samples_wanted
from runs.wire import status_message

logger = logging.getLogger(__name__)


def run_group(run_id) -> str:
    return f"run-{run_id}"


DASHBOARD_GROUP = "dashboard"


def notify_run_changed(run_id, *, kind: str = "log") -> None:
    """kind: "log" | "metric" | "status". Never raises: live push is best-effort."""
    if not settings.CONFIG.redis_url:
        return
    try:
        layer = get_channel_layer()
        message = {"type": "run.changed", "run_id": str(run_id), "kind": kind}
        async_to_sync(layer.group_send)(run_group(run_id), message)
        if kind == "status":
            async_to_sync(layer.group_send)(DASHBOARD_GROUP, message)
    except Exception:  # a Redis hiccup must never fail a run
        logger.warning("live push for run %s failed", run_id, exc_info=True)


# ---- The reading side: what a live viewer is sent (runs.consumers forwards it) ----

MAX_LINES_PER_READ = 2000  # per poll; a flood is paced, never read whole into memory


@dataclass
class LiveSnapshot:
    status: str | None  # None when the run is gone (deleted)
    status_message: dict | None
    lines: list  # runs.logformat.LogLine, ascending, all > the cursor
    more_lines: bool  # the read stopped at the limit: poll again at once
    samples: list[dict]
    last_sample_id: int

    @property
    def finished(self) -> bool:
        return self.status in RunStatus.finished()


def live_snapshot(
    run_id, *, after_line: int, after_sample_id: int, line_limit: int = MAX_LINES_PER_READ
) -> LiveSnapshot:
    """Status, then log lines > after_line, then samples with id > after_sample_id.

    The status is read first: when it says finished, the engine has already flushed every
    line, so the lines read next are complete and the final status can close the stream.
    Chunks are found through the (run, last_line) index.
    """
    row = (
        Run.objects.filter(pk=run_id)
        .values("status", "exit_code", "duration_ms", "started_at", "finished_at")
        .first()
    )
    if row is None:
        return LiveSnapshot(None, None, [], False, [], after_sample_id)
    message = status_message(
        run_id,
        status=row["status"],
        exit_code=row["exit_code"],
        duration_ms=row["duration_ms"],
        at=row["finished_at"] or row["started_at"] or timezone.now(),
    )

    lines: list = []
    # ordered by last_line (the same order: chunks are contiguous) so the (run, last_line)
    # index serves filter and order; by first_line SQLite walked every chunk of the run
    chunks = LogChunk.objects.filter(run_id=run_id, last_line__gt=after_line).order_by("last_line")
    more = False
    for chunk in chunks.only("first_line", "last_line", "created_at", "data").iterator(
        chunk_size=50
    ):
        for line in decode_chunk(chunk):
            if line.number > after_line:
                lines.append(line)
        if len(lines) >= line_limit:
            more = True  # maybe exactly at the end; one extra cheap poll then says so
            del lines[line_limit:]
            break

    sample_messages, last_sample_id = _samples(run_id, after_id=after_sample_id)
    return LiveSnapshot(row["status"], message, lines, more, sample_messages, last_sample_id)


def _samples(run_id, *, after_id: int, limit: int | None = None) -> tuple[list[dict], int]:
    """The run's sample messages after `after_id` and the last id read, from whoever stores
    samples (metrics, through runs.seams.samples_wanted); none when nobody does."""
    extra = {} if limit is None else {"limit": limit}
    for _, (messages, last_id) in samples_wanted.send(
        sender=Run, run_id=run_id, after_id=after_id, **extra
    ):
        return messages, last_id
    return [], after_id


def live_probe(run_id, *, after_sample_id: int = 0) -> tuple | None:
    """(status, last stored line, newest sample id seen) of a run in two small indexed
    queries; None if the run is gone. Followers compare it with the previous probe and skip
    the full read when nothing changed."""
    key = Run._meta.pk.get_db_prep_value(run_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.status,"  # noqa: S608 (table names from the models, values bound)
            f" (SELECT MAX(c.last_line) FROM {LogChunk._meta.db_table} c WHERE c.run_id = %s)"
            f" FROM {Run._meta.db_table} r WHERE r.id = %s",
            [key, key],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    _, newer = _samples(run_id, after_id=after_sample_id, limit=1)
    return (*row, newer)


def live_poll(run_id, *, after_line: int, after_sample_id: int, line_limit: int, last_probe):
    """The follower's database reads per tick: (probe, snapshot or None when unchanged)."""
    probe = live_probe(run_id, after_sample_id=after_sample_id)
    if probe is None:
        return None, LiveSnapshot(None, None, [], False, [], after_sample_id)
    if probe == last_probe:
        return probe, None
    return probe, live_snapshot(
        run_id, after_line=after_line, after_sample_id=after_sample_id, line_limit=line_limit
    )
