"""What an execution produced, and how it is stored: the Outcome the executor hands to
runs.engine.claim.run_finish (final status, the last rows and samples, the resource summary)
and write_rows, which stores rows and samples for both of them."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import IntegrityError, connection

from runs.engine.process import signal_name
from runs.models import LogChunk, Run, RunStatus
from runs.seams import samples_taken
from taskflow_site.lib.diskfull import DISK_FULL_MESSAGE

# Why the executor stopped a run early -> (status, error message).
STOPPED = {
    "timeout": (RunStatus.TIMEOUT, "timed out after {timeout} s"),
    "cancel": (RunStatus.CANCELLED, "cancelled"),
    "shutdown": (RunStatus.FAILURE, "interrupted: TaskFlow stopped"),
    "lost": (RunStatus.FAILURE, "worker lost"),
    "limit": (RunStatus.FAILURE, "{limit}"),  # the limit and what the run used
}


def final_status(
    reason: str | None, code: int | None, *, start_error: str, timeout: int, limit: str = ""
) -> tuple[str, str]:
    """(status, error message) of a run that stopped for `reason` (None: it ended by itself)
    with exit code `code` (negative: killed by that signal; None: never started)."""
    if reason is not None:
        status, message = STOPPED[reason]
        return status, message.format(timeout=timeout, limit=limit)
    if code is None:
        return RunStatus.FAILURE, start_error or "did not start"
    if code == 0:
        return RunStatus.SUCCESS, ""
    if code < 0:
        return RunStatus.FAILURE, f"killed by {signal_name(-code)}"
    return RunStatus.FAILURE, f"exit code {code}"


def with_lines_lost(status: str, message: str, lost: int) -> tuple[str, str]:
    """A run some of whose log lines could not be stored for want of disk space fails, and its
    error says so (after the reason it had, if any)."""
    if not lost:
        return status, message
    full = f"{DISK_FULL_MESSAGE} ({lost} log lines not stored)"
    if status == RunStatus.SUCCESS:
        return RunStatus.FAILURE, full
    return status, f"{message}; {full}"


@dataclass
class Outcome:
    status: str
    exit_code: int | None
    error_message: str
    started: float  # epoch seconds
    finished: float
    rows: list = field(default_factory=list)  # LogChunk rows not yet written
    samples: list = field(default_factory=list)  # (datetime, cpu, rss, mem%) not yet written
    lines: int = 0
    bytes_total: int = 0
    dropped: int = 0
    lost: bool = False  # the run was taken from us (reconciled) while we ran it
    # the resource summary (runs.engine.monitor.Usage.summary); None without a process
    cpu_seconds: float | None = None
    cpu_avg: float | None = None
    cpu_max: float | None = None
    mem_avg: int | None = None
    mem_max: int | None = None


def write_rows(run_id, rows, samples) -> None:
    """Insert LogChunk rows (runs.engine.logbuffer.ChunkRow; one that extends a stored chunk
    appends to it in place) and hand the samples to their store (runs.seams.samples_taken),
    inside the caller's transaction. executemany on raw SQL: several times cheaper per row
    than bulk_create, and this is the hot path. IntegrityError when someone else (the
    reconciler) wrote lines to the run: it is no longer ours."""
    if not rows and not samples:
        return
    db_run = Run._meta.pk.get_db_prep_value(run_id, connection)
    adapt = connection.ops.adapt_datetimefield_value
    table = LogChunk._meta.db_table
    with connection.cursor() as cursor:
        for row in rows:
            if not row.extends:
                break
            # only while the chunk still ends right before these lines and is the run's last
            later = (db_run, row.extends)
            cursor.execute(
                f"UPDATE {table} SET last_line = %s, data = data || %s"  # noqa: S608 (fixed names)
                " WHERE run_id = %s AND first_line = %s AND last_line = %s AND NOT EXISTS"
                f" (SELECT 1 FROM {table} later WHERE later.run_id = %s"
                " AND later.first_line > %s)",
                (row.last, "\n" + row.data, db_run, row.extends, row.first - 1, *later),
            )
            if cursor.rowcount != 1:
                raise IntegrityError(f"log chunk {row.extends} of run {run_id} changed meanwhile")
        inserts = [row for row in rows if not row.extends]
        if inserts:
            cursor.executemany(
                f"INSERT INTO {table} "  # noqa: S608 (fixed names)
                "(run_id, first_line, last_line, created_at, data) VALUES (%s, %s, %s, %s, %s)",
                [(db_run, row.first, row.last, adapt(row.at), row.data) for row in inserts],
            )
    if samples:
        samples_taken.send(sender=Run, run_id=db_run, samples=samples)
