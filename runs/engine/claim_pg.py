"""PostgreSQL's claim in one round trip: one statement picks and takes the best pending run
(FOR UPDATE SKIP LOCKED: workers pass over each other's candidates and never wait), sent as a
psycopg pipeline with the statements that keep the admission rule and the commit
(docs/architecture.md, "Engine throughput (issue 14)").

Admission (runs.admission): the claim statement's condition is MAY_START_SQL, read in that
statement's snapshot, so two workers could each take a run of one job when neither sees the
other's claim yet. Hence, in the same transaction, CLAIM_LOCK_SQL waits for the job's advisory
lock (held by whoever took a run of that job until its commit) and CLAIM_UNDO_SQL, in a fresh
snapshot after it, puts the run back when another run of its job is running by then: of two
such claims exactly one stays. The delivery budget is checked in the claim statement itself
(the run's timeout from its spec, as run_timeout reads it): an over-budget best run is left
pending and reported, as runs.engine.claim.run_claim does.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from django.db import connection

from jobs.models import OverlapPolicy
from runs.admission import MAY_START_SQL
from runs.models import RunStatus
from runs.spec import DEFAULT_TIMEOUT

LOCK_CLASS = 0x7466  # advisory lock key space of the claim: (LOCK_CLASS, hash of the job id)
NO_BUDGET = 2**31 - 1
RUNNING, ALLOW = RunStatus.RUNNING.value, OverlapPolicy.ALLOW.value

# the run's timeout as run_timeout() reads the spec: the default when absent, 0 when unreadable
_TIMEOUT_SQL = f"""CASE
    WHEN r.spec->'timeout_seconds' IS NULL OR r.spec->'timeout_seconds' = 'null'::jsonb
        OR r.spec->>'timeout_seconds' = '' THEN {DEFAULT_TIMEOUT}
    WHEN r.spec->>'timeout_seconds' ~ '^-?[0-9]{{1,9}}$'
        THEN (r.spec->>'timeout_seconds')::int
    ELSE 0 END"""


def claim_sql(fields: tuple[str, ...]) -> str:
    returned = ", ".join(f"claimed.{name}" for name in fields)
    updated = ", ".join(f"runs_run.{name}" for name in fields)
    return f"""
WITH candidate AS (
    SELECT r.id, {_TIMEOUT_SQL} AS timeout
    FROM runs_run r LEFT JOIN jobs_job j ON j.id = r.job_id
    WHERE r.status = 'pending' AND r.available_at <= %s AND {MAY_START_SQL}
    ORDER BY r.priority DESC, r.available_at, r.created_at
    LIMIT 1
    FOR UPDATE OF r SKIP LOCKED
), claimed AS (
    UPDATE runs_run SET status = '{RUNNING}', started_at = %s, heartbeat_at = %s, worker = %s
    FROM candidate WHERE runs_run.id = candidate.id AND candidate.timeout <= %s
    RETURNING {updated}
)
SELECT candidate.id, {returned} FROM candidate LEFT JOIN claimed ON claimed.id = candidate.id
"""  # noqa: S608 (constants only)


# the job of the run this worker has just taken, unless it allows overlap
_JUST_TAKEN = f"""r.status = '{RUNNING}' AND r.worker = %s AND r.started_at = %s
    AND j.id = r.job_id AND j.overlap_policy <> '{ALLOW}'"""
CLAIM_LOCK_SQL = f"""
SELECT pg_advisory_xact_lock({LOCK_CLASS}, hashtext(r.job_id::text))
FROM runs_run r, jobs_job j WHERE {_JUST_TAKEN}
"""  # noqa: S608 (constants only)
CLAIM_UNDO_SQL = f"""
UPDATE runs_run r SET status = 'pending', started_at = NULL, heartbeat_at = NULL, worker = ''
FROM jobs_job j WHERE {_JUST_TAKEN} AND EXISTS (
    SELECT 1 FROM runs_run x WHERE x.job_id = r.job_id AND x.status = '{RUNNING}'
    AND x.id <> r.id)
RETURNING r.id
"""  # noqa: S608 (constants only)


@dataclass
class Queued:
    """A claim sent in a pipeline; its answer is read once the pipeline is synced."""

    claim: object  # the cursors
    lock: object
    undo: object
    now: object = None  # the start time it wrote (a datetime)

    def answer(self) -> tuple[tuple | None, bool]:
        """(the claimed row, as claim_sql's fields; None if none) and whether the best run
        was over budget."""
        try:
            row = self.claim.fetchone()
            undone = {found for (found,) in self.undo.fetchall()}
        finally:
            for cursor in (self.claim, self.lock, self.undo):
                cursor.close()
        if row is None:
            return None, False
        if row[1] is None:  # a candidate, but it does not fit in the budget
            return None, True
        if row[0] in undone:  # another run of its job started meanwhile
            return None, False
        return row[1:], False


def claim_queue(*, fields, stamp, worker: str, fits: int | None) -> Queued:
    """Send the claim (in the caller's transaction and pipeline); `stamp` is the start time
    as the database takes it, `fits` the longest timeout that fits the budget (None: any)."""
    cursors = [connection.cursor() for _ in range(3)]
    limit = NO_BUDGET if fits is None else max(-1, min(fits, NO_BUDGET))
    cursors[0].execute(claim_sql(fields), [stamp, stamp, stamp, worker, limit])
    cursors[1].execute(CLAIM_LOCK_SQL, [worker, stamp])
    cursors[2].execute(CLAIM_UNDO_SQL, [worker, stamp])
    return Queued(*cursors)


def pipeline():
    """A psycopg pipeline on the connection (statements go out together at the next sync or
    commit); a no-op context elsewhere."""
    if connection.vendor != "postgresql":
        return contextlib.nullcontext()
    connection.ensure_connection()
    return connection.connection.pipeline()
