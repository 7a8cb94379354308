"""PostgreSQL's claim in one round trip: one statement picks and takes the best pending run
(FOR UPDATE SKIP LOCKED: workers pass over each other's candidates and never wait), sent as a
psycopg pipeline with the statement that keeps the admission rule (the pipeline opens inside
the transaction: the commit follows it; docs/architecture.md, "Engine throughput (issue
14)"). Both are prepared once per connection.

Admission (runs.admission): the claim statement's condition is MAY_START_SQL, read in that
statement's snapshot, so two workers could each take a run of one job when neither sees the
other's claim yet. Hence the claim statement also waits for the job's advisory lock (held by
whoever took a run of that job until its commit), and CLAIM_UNDO_SQL, the next statement of the
transaction and so in a fresh snapshot after that wait, puts the run back when another run of
its job is running by then: of two such claims exactly one stays. The delivery budget is
checked in the claim statement itself (the run's timeout from its spec, as run_timeout reads
it): an over-budget best run is left pending and reported, as runs.engine.claim.run_claim does.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass

from django.db import connection

from jobs.models import OverlapPolicy
from runs.admission import MAY_START_SQL
from runs.models import RunStatus
from runs.spec import DEFAULT_TIMEOUT

LOCK_CLASS = 0x7466  # advisory lock key space of the claim: (LOCK_CLASS, hash of the job id)
NO_BUDGET = 2**31 - 1
RUNNING, ALLOW = RunStatus.RUNNING.value, OverlapPolicy.ALLOW.value
# the claim's order (priority, then due time, then age), which run_claim_idx holds whole
CLAIM_ORDER = "ORDER BY r.priority DESC, r.available_at, r.created_at"

# the run's timeout as run_timeout() reads the spec: the default when absent, 0 when unreadable
_TIMEOUT_SQL = f"""CASE
    WHEN r.spec->'timeout_seconds' IS NULL OR r.spec->'timeout_seconds' = 'null'::jsonb
        OR r.spec->>'timeout_seconds' = '' THEN {DEFAULT_TIMEOUT}
    WHEN r.spec->>'timeout_seconds' ~ '^-?[0-9]{{1,9}}$'
        THEN (r.spec->>'timeout_seconds')::int
    ELSE 0 END"""


def claim_sql(fields: tuple[str, ...]) -> str:
    """The claim (runs.engine.claim prepares it as CLAIM): $1 the start time, $2 the worker,
    $3 the longest timeout that fits the budget. It also takes the job's advisory
    lock for a run it took of a job that does not allow overlap (a SELECT CTE runs only
    when read: the final SELECT reads `locked`)."""
    returned = ", ".join(f"claimed.{name}" for name in fields)
    updated = ", ".join(f"runs_run.{name}" for name in fields)
    return f"""
WITH candidate AS (
    SELECT r.id, r.job_id, {_TIMEOUT_SQL} AS timeout
    FROM runs_run r
    WHERE r.status = 'pending' AND r.available_at <= $1 AND {MAY_START_SQL}
    {CLAIM_ORDER}
    LIMIT 1
    FOR UPDATE OF r SKIP LOCKED
), claimed AS (
    UPDATE runs_run SET status = '{RUNNING}', started_at = $1, heartbeat_at = $1, worker = $2
    FROM candidate WHERE runs_run.id = candidate.id AND candidate.timeout <= $3
    RETURNING {updated}
), locked AS (
    SELECT pg_advisory_xact_lock({LOCK_CLASS}, hashtext(candidate.job_id::text)) IS NULL AS no
    FROM candidate JOIN claimed ON claimed.id = candidate.id
    JOIN jobs_job j ON j.id = candidate.job_id
    WHERE j.overlap_policy <> '{ALLOW}'
)
SELECT candidate.id, {returned}, (SELECT count(*) FROM locked)
FROM candidate LEFT JOIN claimed ON claimed.id = candidate.id
"""  # noqa: S608 (constants only)


# in a fresh snapshot (after the claim statement waited for the job's lock): put the run this
# worker has just taken back when another run of its job is running by then
CLAIM_UNDO_SQL = f"""
UPDATE runs_run r SET status = 'pending', started_at = NULL, heartbeat_at = NULL, worker = ''
FROM jobs_job j WHERE r.status = '{RUNNING}' AND r.worker = $1 AND r.started_at = $2
    AND j.id = r.job_id AND j.overlap_policy <> '{ALLOW}' AND EXISTS (
    SELECT 1 FROM runs_run x WHERE x.job_id = r.job_id AND x.status = '{RUNNING}'
    AND x.id <> r.id)
RETURNING r.id
"""  # noqa: S608 (constants only)

# prepared statements: parsed and planned once per connection, not per run (planning the
# claim cost more than running it); EXECUTE name(literals) names them
CLAIM, UNDO = "taskflow_claim", "taskflow_claim_undo"
STATEMENTS: dict[str, str] = {UNDO: CLAIM_UNDO_SQL}  # name -> statement ($n parameters)
_prepared: weakref.WeakSet = weakref.WeakSet()  # the (psycopg) connections that have them


def statement(name: str, sql: str) -> str:
    """Register a statement to prepare on each connection; returns its name."""
    STATEMENTS[name] = sql
    return name


def _prepare() -> None:
    """PREPARE the registered statements on this connection unless it has them (on the raw
    connection, synchronously: never inside a pipeline whose earlier statement could fail)."""
    connection.ensure_connection()
    raw = connection.connection
    if raw in _prepared:
        return
    with connection.wrap_database_errors:
        have = {
            name
            for (name,) in raw.execute(
                "SELECT name FROM pg_prepared_statements WHERE name = ANY(%s)", [list(STATEMENTS)]
            )
        }
        for name, sql in STATEMENTS.items():
            if name not in have:
                raw.execute(f"PREPARE {name} AS {sql}")
    _prepared.add(raw)


@dataclass
class Queued:
    """A claim sent in a pipeline; its answer is read once the pipeline is synced."""

    claim: object  # the cursors
    undo: object
    width: int  # how many fields the claim returns
    now: object = None  # the start time it wrote (a datetime)

    def answer(self) -> tuple[tuple | None, bool]:
        """(the claimed row, as claim_sql's fields; None if none) and whether the best run
        was over budget."""
        try:
            row = self.claim.fetchone()
            undone = {found for (found,) in self.undo.fetchall()}
        finally:
            self.claim.close()
            self.undo.close()
        if row is None:
            return None, False
        if row[1] is None:  # a candidate, but it does not fit in the budget
            return None, True
        if row[0] in undone:  # another run of its job started meanwhile
            return None, False
        return row[1 : 1 + self.width], False


def claim_queue(*, fields, stamp, worker: str, fits: int | None) -> Queued:
    """Send the claim (in the caller's transaction and pipeline); `stamp` is the start time
    as the database takes it, `fits` the longest timeout that fits the budget (None: any)."""
    _prepare()  # done already when a pipeline() is open
    claim, undo = connection.cursor(), connection.cursor()
    limit = NO_BUDGET if fits is None else max(-1, min(fits, NO_BUDGET))
    claim.execute(f"EXECUTE {CLAIM}(%s, %s, %s)", [stamp, worker, limit])
    undo.execute(f"EXECUTE {UNDO}(%s, %s)", [worker, stamp])
    return Queued(claim, undo, len(fields))


def pipeline():
    """A psycopg pipeline on the connection (statements go out together at the next sync or
    commit), the statements prepared first; a no-op context elsewhere."""
    if connection.vendor != "postgresql":
        return contextlib.nullcontext()
    _prepare()
    return connection.connection.pipeline()


@contextlib.contextmanager
def transaction():
    """A transaction whose statements go out with its BEGIN and COMMIT as one pipeline: one
    round trip. Django's atomic() on psycopg costs three (psycopg syncs after the BEGIN it
    sends in a pipeline, then the pipeline's own sync, then the COMMIT), so the connection
    stays in autocommit here and the block is framed by plain BEGIN and COMMIT statements;
    what the block sent is answered once it ends. On an error the transaction is rolled
    back and the error raised. Inside a caller's atomic block (tests) it is a pipeline in
    that transaction. The block must not use transaction.atomic() or on_commit()."""
    if connection.in_atomic_block or not connection.get_autocommit():
        with pipeline():
            yield
        return
    _prepare()
    raw = connection.connection
    done = False
    try:
        with connection.wrap_database_errors, raw.pipeline():
            raw.execute("BEGIN")
            yield
            raw.execute("COMMIT")
        done = True
    finally:
        if not done:  # the block or the database failed: whatever it began is undone
            with contextlib.suppress(Exception), connection.wrap_database_errors:
                raw.execute("ROLLBACK")
