"""Tell live viewers that a run changed (new log lines, a sample, a status), and what they read.

The database is the truth: viewers replay and follow by line number from it (runs.followers:
one follower per run per web process), so with no Redis notify_run_changed has nothing to do
(daphne and the worker are separate processes and Channels' in-memory layer cannot cross
them). With REDIS_URL set, nudges go through the channel layer in batches, one message naming
the runs that changed to every web process's followers (RUNS_GROUP) and one to the dashboards
for a status, so followers read the new rows without waiting for their next poll
(docs/architecture.md, "Log chunks and live viewers (issue 14)").
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.db.models import Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from runs.logformat import decode_chunk
from runs.models import LogChunk, Run, RunStatus
from runs.seams import samples_wanted
from runs.wire import status_message

logger = logging.getLogger(__name__)


RUNS_GROUP = "runs"  # every web process's followers (one subscription per process)
DASHBOARD_GROUP = "dashboard"
SEND_TIMEOUT = 2.0  # seconds one batch of nudges may take before the rest is given up
SEND_EVERY = 0.02  # a burst of notices goes as one batch, batches at most this often
DASHBOARD_EVERY = 0.1  # dashboards re-read on a nudge; ten a second say everything
WARN_EVERY = 60.0  # a Redis outage is logged once a minute, not once per notice


def changed_message(runs: dict[str, str]) -> dict:
    """The one nudge of the channel layer: these runs (id -> the newest kind of change)
    changed. Followers read the runs they follow among them; dashboards re-read."""
    return {"type": "runs.changed", "runs": runs}


class _Pusher:
    """The process's sender of nudges: one daemon thread running one event loop, so the
    channel layer keeps its Redis connection between notices. A caller only queues. The
    thread wakes at most every SEND_EVERY: a quiet moment's notice goes at once, a burst
    (hundreds of runs finishing a second) as one batch per wake-up, and a batch is one
    message to the followers (every run it names, the newest kind of each) and at most one
    to the dashboards (spaced DASHBOARD_EVERY apart)."""

    def __init__(self):
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.pending: dict[str, dict[str, str]] = {}  # group -> {run id: kind}
        self.scheduled = False
        self.warned_at = 0.0
        self.sent_at = -SEND_EVERY  # (loop time) the last batch began
        self.dashboard_at = 0.0  # (loop time) the next dashboard nudge goes no sooner
        self.dashboard_held: dict[str, str] | None = None  # runs waiting for that time
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-push", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Ends the thread and closes its loop (and with it the layer's connections); what is
        still queued or held is dropped (the polls deliver)."""
        asyncio.run_coroutine_threadsafe(self._cancel_sends(), self.loop).result(SEND_TIMEOUT * 5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()

    @staticmethod
    async def _cancel_sends() -> None:
        sends = asyncio.all_tasks() - {asyncio.current_task()}
        for task in sends:
            task.cancel()
        await asyncio.gather(*sends, return_exceptions=True)

    def push(self, group: str, runs: dict[str, str]) -> None:
        with self.lock:
            self.pending.setdefault(group, {}).update(runs)
            if self.scheduled:
                return
            self.scheduled = True
        self.loop.call_soon_threadsafe(self.loop.create_task, self._send())

    async def _send(self) -> None:
        while True:
            rest = self.sent_at + SEND_EVERY - self.loop.time()
            if rest > 0:
                await asyncio.sleep(rest)
            with self.lock:
                batch, self.pending = self.pending, {}
                if not batch:
                    self.scheduled = False
                    return
            self.sent_at = self.loop.time()
            layer = get_channel_layer()
            try:
                async with asyncio.timeout(SEND_TIMEOUT):
                    for group, runs in batch.items():
                        if group != DASHBOARD_GROUP or not self._hold_dashboard(runs):
                            await layer.group_send(group, changed_message(runs))
            except Exception:  # a Redis hiccup must never fail a run; the polls deliver
                if time.monotonic() - self.warned_at >= WARN_EVERY:
                    self.warned_at = time.monotonic()
                    logger.warning("live push of %d nudges failed", len(batch), exc_info=True)

    def _hold_dashboard(self, runs: dict[str, str]) -> bool:
        """Sequential runs finish hundreds of times a second: the dashboard's nudges are
        spaced DASHBOARD_EVERY apart; what comes meanwhile is held and goes, merged, when its
        time comes (never dropped behind a held nudge)."""
        now = self.loop.time()
        if now >= self.dashboard_at:
            self.dashboard_at = now + DASHBOARD_EVERY
            return False
        if self.dashboard_held is None:
            self.dashboard_held = {}
            self.loop.call_at(self.dashboard_at, self._release_dashboard)
        self.dashboard_held.update(runs)
        return True

    def _release_dashboard(self) -> None:
        runs, self.dashboard_held = self.dashboard_held, None
        self.push(DASHBOARD_GROUP, runs)


_pusher: _Pusher | None = None
_pusher_lock = threading.Lock()


def stop_pusher() -> None:
    """Stops this process's sender (a new one starts with the next notice): tests change
    the channel layer's settings and must not race a sender reading them."""
    global _pusher
    with _pusher_lock:
        pusher, _pusher = _pusher, None
    if pusher is not None and pusher.pid == os.getpid():
        pusher.stop()


def _forget_pusher() -> None:
    # a forked child (django-q2 forks its workers) has no sender thread: it starts its own
    global _pusher, _pusher_lock
    _pusher, _pusher_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pusher)


def _the_pusher() -> _Pusher:
    global _pusher
    pusher = _pusher
    if pusher is None or pusher.pid != os.getpid():
        with _pusher_lock:
            if _pusher is None or _pusher.pid != os.getpid():
                _pusher = _Pusher()
            pusher = _pusher
    return pusher


def notify_run_changed(run_id, *, kind: str = "log") -> None:
    """kind: "log" | "metric" | "status" | "queued" (a status: the run was just queued, so
    only dashboards can be watching; nobody knew its id before the commit that queued it).
    Queues the nudge and returns (microseconds); never raises: live push is best-effort, the
    followers' polls are the fallback."""
    if not settings.CONFIG.redis_url:
        return
    try:
        pusher = _the_pusher()
        runs = {str(run_id): kind}
        if kind != "queued":
            pusher.push(RUNS_GROUP, runs)
        if kind in {"status", "queued"}:
            pusher.push(DASHBOARD_GROUP, runs)
    except Exception:
        logger.warning("live push for run %s failed", run_id, exc_info=True)


# ---- The reading side: what a live viewer is sent (runs.followers, runs.consumers) ----

MAX_LINES_PER_READ = 2000  # per poll; a flood is paced, never read whole into memory


def log_chunks(run_id, *, after: int, upto: int):
    """The chunks holding lines after+1 ... upto, in order: one range of the (run,
    first_line) key that starts at the chunk holding line after+1 (the last one starting at
    or before it) and is bounded by `upto`, so its cost does not depend on where in the log
    it starts nor on how much log follows."""
    holding = (
        LogChunk.objects.filter(run_id=run_id, first_line__lte=after + 1)
        .order_by("-first_line")
        .values("first_line")[:1]
    )
    return (
        LogChunk.objects.filter(
            run_id=run_id,
            first_line__gte=Coalesce(Subquery(holding), Value(0)),
            first_line__lte=upto,
        )
        .order_by("first_line")
        .only("first_line", "last_line", "created_at", "data")
    )


def last_stored_line(run_id) -> int:
    """The number of the run's last stored line (0: none), from its last chunk."""
    last = (
        LogChunk.objects.filter(run_id=run_id)
        .order_by("-first_line")
        .values_list("last_line", flat=True)
        .first()
    )
    return last or 0


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
    lines = _lines(run_id, after_line, line_limit)
    if not lines:  # nothing right after the cursor: maybe a gap (lines lost to a full disk)
        following = (
            LogChunk.objects.filter(run_id=run_id, first_line__gt=after_line)
            .order_by("first_line")
            .values_list("first_line", flat=True)
            .first()
        )
        if following is not None:
            lines = _lines(run_id, following - 1, line_limit)
    more = len(lines) >= line_limit  # maybe exactly at the end; one extra cheap poll says so
    del lines[line_limit:]
    sample_messages, last_sample_id = _samples(run_id, after_id=after_sample_id)
    return LiveSnapshot(row["status"], message, lines, more, sample_messages, last_sample_id)


def _lines(run_id, after: int, limit: int) -> list:
    lines = []
    for chunk in log_chunks(run_id, after=after, upto=after + limit):
        lines += [line for line in decode_chunk(chunk) if line.number > after]
    return lines


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
            f" (SELECT c.last_line FROM {LogChunk._meta.db_table} c WHERE c.run_id = %s"
            " ORDER BY c.first_line DESC LIMIT 1)"
            f" FROM {Run._meta.db_table} r WHERE r.id = %s",
            [key, key],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    _, newer = _samples(run_id, after_id=after_sample_id, limit=1)
    return (*row, newer)


def live_poll(run_id, *, after_line: int, after_sample_id: int, line_limit: int, last_probe):
    """A follower's database reads per tick: (probe, snapshot or None when unchanged)."""
    probe = live_probe(run_id, after_sample_id=after_sample_id)
    if probe is None:
        return None, LiveSnapshot(None, None, [], False, [], after_sample_id)
    if probe == last_probe and (probe[1] or 0) <= after_line:
        return probe, None
    return probe, live_snapshot(
        run_id, after_line=after_line, after_sample_id=after_sample_id, line_limit=line_limit
    )
