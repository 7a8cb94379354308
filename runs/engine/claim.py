"""The Run table as a queue: claim the best pending run, finish it, schedule its retry.

A claim is a conditional update (pending -> running WHERE still pending), so a duplicate or
late delivery finds nothing (docs/architecture.md, record 1). Which pending run may start is
runs.admission's rule: on SQLite transactions are IMMEDIATE (the check "does this job already
run?" and the update are serialized); on PostgreSQL the job row is locked (SKIP LOCKED) for
the same guarantee with several workers.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.models import Job
from runs.admission import MAY_START_SQL, may_start
from runs.chains import followups_start
from runs.engine import claim_pg
from runs.engine.outcome import Outcome, write_rows
from runs.engine.wake import wake_workers
from runs.live import notify_run_changed
from runs.models import Run, RunStatus, TriggerType
from runs.services import notify_final, run_system_line
from runs.spec import RetryPolicy, RunSpec

logger = logging.getLogger("taskflow.queue")

# SQLite serializes claims (IMMEDIATE), so the best candidate is always free. PostgreSQL
# claims the best run in one statement (runs.engine.claim_pg); this path serves it only for a
# given run_id, and looks a little further down the queue then.
CANDIDATES = {"sqlite": 1}


def _retry_policy(run: Run) -> RetryPolicy:
    try:
        return RunSpec.from_json(run.spec or {}).retry
    except ValueError:  # an unreadable spec never ran, so it has nothing to retry
        return RetryPolicy()


def retry_wanted(run: Run, *, status: str, exit_code: int | None) -> bool:
    """Only failures retry (never timeout or cancel), as the run's retry policy says."""
    if status != RunStatus.FAILURE:
        return False
    return _retry_policy(run).wants(attempt=run.attempt, exit_code=exit_code)


# The claim and the finish are the per-run hot path (bench/engine_throughput.py's target:
# >= 430 runs/s of `true`): raw SQL there keeps Django's query building out of it; everything
# else uses the ORM.

# What finishing a run (and queueing its retry) reads of it: the claim and the reconciler load
# these, and no more, into the Run objects they hand on.
FINISH_FIELDS = (
    "id",
    "job_id",
    "spec",
    "attempt",
    "parent_id",
    "priority",
    "triggered_by_id",
    "log_lines",
    "log_bytes",
)
_CLAIM_FIELDS = (*FINISH_FIELDS, "trigger_type", "created_at")
_CLAIM_COLUMNS = ", ".join(f"r.{name}" for name in _CLAIM_FIELDS)
_DUE = "r.status = 'pending' AND r.available_at <= %s"
_CLAIM_SQL = f"""
SELECT {_CLAIM_COLUMNS} FROM runs_run r
WHERE {_DUE} AND {MAY_START_SQL} {claim_pg.CLAIM_ORDER} LIMIT %s
"""  # noqa: S608 (constants only: the field names and MAY_START_SQL)
# the same among the first `look` due runs only (a look-ahead that may give up: behind a
# backlog of one busy job, the full claim reads every run of that backlog)
_CLAIM_LOOK_SQL = f"""
SELECT {_CLAIM_COLUMNS} FROM (
    SELECT * FROM runs_run r WHERE {_DUE} {claim_pg.CLAIM_ORDER} LIMIT %s) r
WHERE {MAY_START_SQL} {claim_pg.CLAIM_ORDER} LIMIT %s
"""  # noqa: S608 (constants only)
claim_pg.statement(claim_pg.CLAIM, claim_pg.claim_sql(_CLAIM_FIELDS))
_START_SQL = (
    "UPDATE runs_run SET status = 'running', started_at = %s, heartbeat_at = %s, worker = %s "
    "WHERE id = %s AND status = 'pending'"
)


def _db_uuid(value):
    return Run._meta.pk.get_db_prep_value(value, connection)


def _db_time(value):
    return connection.ops.adapt_datetimefield_value(value)


def pending_due() -> bool:
    """Is any run due? A plain read (no write lock): idle drains ask this before claiming."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM runs_run WHERE status = 'pending' AND available_at <= %s LIMIT 1",
            [_db_time(timezone.now())],
        )
        return cursor.fetchone() is not None


class BudgetExceeded(Exception):
    """The best pending run does not fit in what is left of this delivery's time."""


def run_claim(
    *, worker: str, budget_seconds: float | None = None, run_id=None, look: int | None = None
) -> Run | None:
    """Claim the best due pending run (or exactly `run_id`) for `worker`; None if nothing.
    Raises BudgetExceeded when the best run's timeout + grace exceeds budget_seconds. With
    `look`, only the first `look` due runs are considered (SQLite; PostgreSQL's one-statement
    claim considers all): None may then mean "not among those"."""
    now = timezone.now()
    grace = settings.TASKFLOW["KILL_GRACE_SECONDS"]
    postgres = connection.vendor == "postgresql"
    if postgres and run_id is None:  # claim, admission check and commit in one round trip
        with claim_pg.transaction():
            queued = _claim_queue(now, worker=worker, budget_seconds=budget_seconds)
        return _claimed(queued, now, worker)
    over_budget = None
    # no savepoint: run_finish claims the next run inside its own transaction, and nothing
    # here needs undoing on its own (BudgetExceeded is raised after the block, so it never
    # dooms that transaction; any other error ends the caller's transaction anyway)
    with transaction.atomic(savepoint=False):
        if run_id is not None:
            candidates = list(Run.objects.filter(pk=run_id, status=RunStatus.PENDING))
        else:
            limit = CANDIDATES.get(connection.vendor, 8)
            candidates = _claim_candidates(now, limit, look=look)
        for candidate in candidates:
            timeout = run_timeout(candidate)
            if budget_seconds is not None and timeout + grace > budget_seconds:
                over_budget = candidate
                break
            if postgres and candidate.job_id is not None and not _lock_job(candidate):
                continue
            with connection.cursor() as cursor:
                stamp = _db_time(now)
                cursor.execute(_START_SQL, [stamp, stamp, worker, _db_uuid(candidate.pk)])
                if cursor.rowcount != 1:
                    continue
            candidate.status = RunStatus.RUNNING
            candidate.started_at = candidate.heartbeat_at = now
            candidate.worker = worker
            return candidate
    if over_budget is not None:
        raise BudgetExceeded(str(over_budget.pk))
    return None


def _claim_queue(now, *, worker: str, budget_seconds: float | None) -> claim_pg.Queued:
    """PostgreSQL: send the claim of the best due run in the caller's pipeline."""
    fits = None
    if budget_seconds is not None:
        fits = int(budget_seconds - settings.TASKFLOW["KILL_GRACE_SECONDS"])
    queued = claim_pg.claim_queue(
        fields=_CLAIM_FIELDS, stamp=_db_time(now), worker=worker, fits=fits
    )
    queued.now = now
    return queued


def _claimed(queued: claim_pg.Queued, now, worker: str) -> Run | None:
    """The run a queued claim took (None if none); BudgetExceeded as run_claim raises it."""
    row, over_budget = queued.answer()
    if over_budget:
        raise BudgetExceeded("the best pending run does not fit in the budget")
    if row is None:
        return None
    (run,) = _runs_from_rows([row])
    run.status = RunStatus.RUNNING
    run.started_at = run.heartbeat_at = now
    run.worker = worker
    return run


def _claim_candidates(now, limit: int, *, look: int | None = None) -> Iterator[Run]:
    """The claim query on a plain cursor: RawQuerySet's per-query set-up (column mapping,
    converters) cost more than the query itself at hundreds of claims a second. Each row
    becomes a Run only when it is tried (the first almost always starts)."""
    with connection.cursor() as cursor:
        if look is None:
            cursor.execute(_CLAIM_SQL, [_db_time(now), limit])
        else:
            cursor.execute(_CLAIM_LOOK_SQL, [_db_time(now), look, limit])
        rows = cursor.fetchall()
    return _runs_from_rows(rows)


@functools.cache
def _claim_row_layout() -> tuple[list[str], list[tuple[models.Field, int]]]:
    """from_db wants the values in the model's field order: those names, and for each its
    field and its position in a claim row."""
    order = [f.attname for f in Run._meta.concrete_fields if f.attname in _CLAIM_FIELDS]
    position = [_CLAIM_FIELDS.index(name) for name in order]
    return order, [(Run._meta.get_field(_CLAIM_FIELDS[index]), index) for index in position]


def _runs_from_rows(rows) -> Iterator[Run]:
    """Run objects (only _CLAIM_FIELDS loaded) from rows of those fields in that order."""
    order, fields = _claim_row_layout()
    alias = connection.alias
    for row in rows:
        yield Run.from_db(alias, order, [_from_db(field, row[index]) for field, index in fields])


def _from_db(field, value):
    if value is None:
        return None
    target = field.target_field if field.is_relation else field
    if isinstance(target, models.UUIDField) and not isinstance(value, uuid.UUID):
        return uuid.UUID(value)
    if isinstance(target, models.JSONField) and isinstance(value, str):
        return json.loads(value)
    if isinstance(target, models.DateTimeField) and isinstance(value, str):
        return parse_datetime(value).replace(tzinfo=UTC)
    return value


def run_timeout(run: Run) -> int:
    """The run's timeout (0 for an unreadable spec: its executor fails it at once)."""
    try:
        return RunSpec.from_json(run.spec or {}).timeout_seconds
    except ValueError:
        return 0


def _lock_job(candidate: Run) -> bool:
    """PostgreSQL: hold the job row so no other worker starts a run of it concurrently, then
    ask runs.admission.may_start."""
    job = (
        Job.objects.select_for_update(skip_locked=True)
        .filter(pk=candidate.job_id)
        .only("overlap_policy")
        .first()
    )
    if job is None:
        return False
    running = Run.objects.filter(job_id=job.pk, status=RunStatus.RUNNING).exists()
    return may_start(job.overlap_policy, running=running)


def _retry_of(run: Run, *, now, exit_code) -> Run:
    """The next attempt: its own row, trigger_type "retry", parent = the first attempt (whose
    trigger_type keeps the original trigger), due after the policy's delay."""
    delay = _retry_policy(run).delay(run.attempt)
    return Run.objects.create(
        job_id=run.job_id,
        status=RunStatus.PENDING,
        trigger_type=TriggerType.RETRY,
        triggered_by_id=run.triggered_by_id,
        spec=run.spec,
        params=run.params,  # not among the claim's fields: read on this (rare) path only
        priority=run.priority,
        attempt=run.attempt + 1,
        parent_id=run.parent_id or run.pk,
        available_at=now + timedelta(seconds=delay),
    )


_FINISH_COLUMNS = (
    "finished_at",
    "duration_ms",
    "log_lines",
    "log_bytes",
    "log_dropped_bytes",
    "heartbeat_at",
    "cpu_seconds",
    "cpu_percent_avg",
    "cpu_percent_max",
    "memory_bytes_avg",
    "memory_bytes_max",
)
_STATUS_COLUMNS = ("status", "exit_code", "error_message")


def _update_run(run_id, fields: dict, *, only_running: bool) -> int:
    columns = ", ".join(f"{name} = %s" for name in fields)
    params = [
        _db_time(value) if isinstance(value, datetime) else value for value in fields.values()
    ]
    where = " AND status = 'running'" if only_running else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE runs_run SET {columns} WHERE id = %s{where}",  # noqa: S608 (fixed names)
            [*params, _db_uuid(run_id)],
        )
        return cursor.rowcount


# the finish of a running run on PostgreSQL's pipelined path, prepared (runs.engine.claim_pg)
_FINISH = claim_pg.statement(
    "taskflow_finish",
    "UPDATE runs_run SET "  # noqa: S608 (fixed names)
    + ", ".join(
        f"{name} = ${index}"
        for index, name in enumerate((*_FINISH_COLUMNS, *_STATUS_COLUMNS), start=1)
    )
    + f" WHERE id = ${len(_FINISH_COLUMNS) + len(_STATUS_COLUMNS) + 1} AND status = 'running'"
    " RETURNING id",
)


def _finish_queued(run_id, fields: dict):
    """The _update_run of a running run with all of _FINISH_COLUMNS and _STATUS_COLUMNS, its
    answer read later (_queued_rowcount): in a pipeline nothing waits for it."""
    values = [fields[name] for name in (*_FINISH_COLUMNS, *_STATUS_COLUMNS)]
    params = [_db_time(value) if isinstance(value, datetime) else value for value in values]
    cursor = connection.cursor()
    placeholders = ", ".join(["%s"] * (len(params) + 1))
    cursor.execute(f"EXECUTE {_FINISH}({placeholders})", [*params, _db_uuid(run_id)])
    return cursor


def _queued_rowcount(cursor) -> int:
    try:
        return len(cursor.fetchall())
    finally:
        cursor.close()


def _taken_meanwhile(run: Run, outcome: Outcome, fields: dict) -> None:
    """The run is no longer running (the reconciler marked it lost): its status stands, our
    log figures are stored."""
    outcome.lost = True
    _update_run(
        run.pk, {k: v for k, v in fields.items() if k.startswith("log_")}, only_running=False
    )


def _write_rows_unless_taken(run_id, outcome: Outcome) -> None:
    """A run reconciled as lost got a system line from the reconciler: our numbering may now
    collide with it. Those lines of a lost run are dropped rather than failing the finish."""
    if not outcome.lost:
        write_rows(run_id, outcome.rows, outcome.samples)
        return
    try:
        with transaction.atomic():
            write_rows(run_id, outcome.rows, outcome.samples)
    except IntegrityError:
        logger.warning("run %s: lines after it was marked lost were not stored", run_id)


def finish_is_plain(run: Run, outcome: Outcome) -> bool:
    """Does the finish only record the run (no retry, no follow-ups to queue, not lost)?"""
    return not (
        outcome.lost
        or (run.spec or {}).get("followups")
        or retry_wanted(run, status=outcome.status, exit_code=outcome.exit_code)
    )


@dataclass
class Finished:
    retry: Run | None = None  # the next attempt, if one was queued
    next_run: Run | None = None  # claimed in the same transaction (claim_next)
    over_budget: bool = False  # claim_next found a run too long for the budget left


def run_finish(
    *, run: Run, outcome: Outcome, worker: str | None = None, claim_next: dict | None = None
) -> Finished:
    """Write the last lines and samples, the final status and (if wanted) the retry row in
    one transaction; then notify. With claim_next (run_claim's keyword arguments) the next
    run is claimed in that same transaction: one commit per run on the sequential hot path."""

    finished = datetime.fromtimestamp(outcome.finished, tz=UTC)
    values = (
        finished,
        int((outcome.finished - outcome.started) * 1000),
        outcome.lines,
        outcome.bytes_total,
        outcome.dropped,
        finished,
        outcome.cpu_seconds,
        outcome.cpu_avg,
        outcome.cpu_max,
        outcome.mem_avg,
        outcome.mem_max,
    )
    fields = dict(zip(_FINISH_COLUMNS, values, strict=True))
    said = (outcome.status, outcome.exit_code, outcome.error_message)
    status = dict(zip(_STATUS_COLUMNS, said, strict=True))
    retry = None
    result = Finished()
    # PostgreSQL's common case (no retry, no follow-ups): the rows, the finish, the claim of
    # the next run and the commit go out as one pipeline, one round trip
    # (claim_pg.transaction); what the database answered is looked at after it. A row that
    # extends a stored chunk is written first, in a transaction of Django's with the
    # pipeline inside it: write_rows reads its row count (not known in a pipeline before the
    # sync).
    deferred = connection.vendor == "postgresql" and finish_is_plain(run, outcome)
    rows_first = any(getattr(row, "extends", None) for row in outcome.rows)
    updated = queued = None
    with contextlib.ExitStack() as block:
        if deferred and not rows_first:
            block.enter_context(claim_pg.transaction())
        else:
            block.enter_context(transaction.atomic())
        _write_rows_unless_taken(run.pk, outcome)
        if deferred and rows_first:
            block.enter_context(claim_pg.pipeline())
        if outcome.lost:  # the reconciler already decided the status; keep the logs
            _update_run(run.pk, fields, only_running=False)
        elif deferred:
            updated = _finish_queued(run.pk, {**fields, **status})
        elif _update_run(run.pk, {**fields, **status}, only_running=True):
            fields.update(status)
            if retry_wanted(run, status=outcome.status, exit_code=outcome.exit_code):
                retry = _retry_of(run, now=finished, exit_code=outcome.exit_code)
            else:  # the final attempt: its follow-ups (none: no query; runs.chains)
                followups_start(run, status=outcome.status)
        else:
            _taken_meanwhile(run, outcome, fields)
        if claim_next is not None and connection.vendor == "postgresql":
            queued = _claim_queue(timezone.now(), **claim_next)
        elif claim_next is not None:
            try:
                result.next_run = run_claim(**claim_next)
            except BudgetExceeded:
                result.over_budget = True
    if updated is not None:
        if _queued_rowcount(updated):
            fields.update(status)
        else:  # committed without its status: stored as the slow path would have
            with transaction.atomic():
                _taken_meanwhile(run, outcome, fields)
    if queued is not None:
        try:
            result.next_run = _claimed(queued, queued.now, claim_next["worker"])
        except BudgetExceeded:
            result.over_budget = True
    for name, value in fields.items():
        setattr(run, name, value)
    if retry is not None and retry.available_at <= timezone.now() + timedelta(seconds=1):
        wake_workers()
    notify_run_changed(run.pk, kind="status")
    if not outcome.lost and retry is None:
        notify_final(run)
    result.retry = retry
    return result


def run_mark_lost(*, run: Run, reason: str = "worker lost") -> Run | None:
    """A running run whose executor is gone: failure with `reason` (if still running), then a
    retry if its policy allows. Returns the retry run, if any. Safe to call twice."""

    now = timezone.now()
    retry = None
    with transaction.atomic():
        updated = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILURE,
            finished_at=now,
            error_message=reason,
            duration_ms=int((now - run.started_at).total_seconds() * 1000)
            if run.started_at
            else None,
        )
        if not updated:
            return None
        run_system_line(run=run, text=f"{reason}: marked failed by the reconciler", now=now)
        if retry_wanted(run, status=RunStatus.FAILURE, exit_code=None):
            retry = _retry_of(run, now=now, exit_code=None)
        else:
            followups_start(run, status=RunStatus.FAILURE)
    notify_run_changed(run.pk, kind="status")
    if retry is None:
        run.refresh_from_db()
        notify_final(run)
    else:
        wake_workers()
    return retry
