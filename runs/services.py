"""Run workflows: enqueue (with overlap, queue bound and idempotency), cancel, re-run, logs.

The Run table is the durable queue (docs/architecture.md, record 1); the executor claims from
it (runs.engine.claim) and wakes on `wake_workers()` sent after each enqueue commits. Whether
a new run is queued or skipped is runs.admission's rule (record 4).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.audit import audit_context
from accounts.models import AuditAction, Surface
from jobs.models import Job
from runs.admission import Admission
from runs.audit import run_audit
from runs.engine.wake import wake_workers
from runs.live import notify_run_changed
from runs.logformat import LogLine, decode_chunk, encode_lines
from runs.models import LogChunk, Run, RunStatus, TriggerType
from runs.seams import run_finished
from runs.spec import RunSpec
from taskflow_site.lib.formatting import iso

logger = logging.getLogger(__name__)


def _wake_on_commit() -> None:
    """One wake-up per transaction, however many runs it queued (bulk enqueues)."""
    if not any(entry[1] is wake_workers for entry in connection.run_on_commit):
        transaction.on_commit(wake_workers)


def _notify_status_on_commit(run_id) -> None:
    transaction.on_commit(lambda: notify_run_changed(run_id, kind="status"))


def _system_chunk(run: Run, number: int, text: str, now) -> LogChunk:
    """An unsaved LogChunk holding one system line, numbered `number`."""
    data = encode_lines([("system", 0, text)])
    return LogChunk(run=run, first_line=number, last_line=number, created_at=now, data=data)


def _skip(run: Run, reason: str, now) -> LogChunk:
    """Make an unsaved run a skipped one (a refused or missed slot); returns its system line,
    the reason, which the caller stores with it. Every skipped run is written this way."""
    run.status = RunStatus.SKIPPED
    run.error_message = reason
    run.finished_at = now
    run.log_lines = 1
    run.log_bytes = len(reason)
    return _system_chunk(run, 1, reason, now)


def _new_run(
    *, job, admission: Admission, spec: dict, now, skip_reason: str | None = None, **fields
) -> tuple[Run, LogChunk | None]:
    """An unsaved Run of `job`: skipped for `skip_reason` (a missed slot), else as the overlap
    rule decides; a skipped one comes with its system line."""
    if skip_reason is None:
        skip_reason = admission.reason(job)
        if skip_reason is None:
            admission.admit(job)
    run = Run(job=job, status=RunStatus.PENDING, spec=spec, priority=job.priority, **fields)
    if skip_reason is None:
        return run, None
    return run, _skip(run, skip_reason, now)


def _existing(*, idempotency_key, job=None, scheduled_for=None) -> Run | None:
    if idempotency_key:
        run = Run.objects.filter(idempotency_key=idempotency_key).first()
        if run is not None:
            return run
    if job is not None and scheduled_for is not None:
        return Run.objects.filter(job=job, scheduled_for=scheduled_for).first()
    return None


def _after_enqueue(runs: list[Run]) -> None:
    """On commit: one wake-up if anything is pending, one status notice per new run."""

    if any(run.status == RunStatus.PENDING for run in runs):
        _wake_on_commit()
    ids = [run.pk for run in runs]
    transaction.on_commit(lambda: [notify_run_changed(pk, kind="status") for pk in ids])


def run_enqueue(
    *,
    job,
    trigger_type: str,
    triggered_by=None,
    scheduled_for: datetime | None = None,
    idempotency_key: str | None = None,
    available_at: datetime | None = None,
    skip_reason: str | None = None,
    rerun_of: Run | None = None,
) -> tuple[Run, bool]:
    """Queue a run of `job`. Returns (run, created); an existing run for the same idempotency
    key or (job, scheduled_for) slot is returned with created=False. A run that the job's
    overlap/queue policy refuses is recorded as SKIPPED with the reason; with skip_reason (a
    missed slot) it is recorded as skipped for that reason, whatever the policy. A manual run
    goes to the audit trail (as a re-run of `rerun_of` when given)."""
    existing = _existing(idempotency_key=idempotency_key, job=job, scheduled_for=scheduled_for)
    if existing is not None:
        return existing, False
    now = timezone.now()
    try:
        with transaction.atomic():
            run, line = _new_run(
                job=job,
                admission=Admission([job]),
                spec=RunSpec.from_job(job).to_json(),
                now=now,
                skip_reason=skip_reason,
                trigger_type=trigger_type,
                triggered_by=triggered_by,
                scheduled_for=scheduled_for,
                available_at=available_at or now,
                idempotency_key=idempotency_key or None,
            )
            run.save(force_insert=True)
            if line is not None:
                line.save(force_insert=True)
            _after_enqueue([run])
            if trigger_type == TriggerType.MANUAL:
                _run_started_audit(run, rerun_of)
                if run.status == RunStatus.PENDING:  # lastRun counts it (the tick: slots)
                    Job.objects.filter(pk=job.pk).update(last_run_at=run.created_at)
                    job.last_run_at = run.created_at
    except IntegrityError:
        # lost a race with another enqueue of the same key/slot: theirs is the run
        existing = _existing(idempotency_key=idempotency_key, job=job, scheduled_for=scheduled_for)
        if existing is None:
            raise
        return existing, False
    return run, True


def run_enqueue_many(*, items: list[dict]) -> list[tuple[Run, bool]]:
    """run_enqueue for many runs at once (the tick): each item holds run_enqueue's keyword
    arguments (job, trigger_type, scheduled_for, triggered_by, available_at, skip_reason).
    Same results and semantics, item by item in order, at a fixed number of queries: existing
    slots in one query, the policy in one or two, the rows in two bulk inserts, one wake-up."""
    items = list(items)
    if not items:
        return []
    now = timezone.now()
    slots = [(item["job"].pk, item["scheduled_for"]) for item in items if item.get("scheduled_for")]
    taken: dict = {}
    if slots:
        found = Run.objects.filter(
            job_id__in={pk for pk, _ in slots}, scheduled_for__in={slot for _, slot in slots}
        )
        taken = {(run.job_id, run.scheduled_for): run for run in found}
    try:
        with transaction.atomic():
            admission = Admission([item["job"] for item in items])
            specs: dict = {}
            results, runs, lines = [], [], []
            for item in items:
                job, slot = item["job"], item.get("scheduled_for")
                existing = taken.get((job.pk, slot)) if slot else None
                if existing is not None:
                    results.append((existing, False))
                    continue
                if job.pk not in specs:
                    specs[job.pk] = RunSpec.from_job(job).to_json()
                run, line = _new_run(
                    job=job,
                    admission=admission,
                    spec=specs[job.pk],
                    now=now,
                    skip_reason=item.get("skip_reason"),
                    trigger_type=item["trigger_type"],
                    triggered_by=item.get("triggered_by"),
                    scheduled_for=slot,
                    available_at=item.get("available_at") or now,
                )
                if slot:
                    taken[(job.pk, slot)] = run
                results.append((run, True))
                runs.append(run)
                if line is not None:
                    lines.append(line)
            Run.objects.bulk_create(runs)
            LogChunk.objects.bulk_create(lines)
            if runs:
                _after_enqueue(runs)
    except IntegrityError:
        # a concurrent scheduler took a slot meanwhile: item by item, each settles its race
        return [run_enqueue(**item) for item in items]
    return results


def _run_started_audit(run: Run, rerun_of: Run | None) -> None:
    if rerun_of is None:
        run_audit(AuditAction.RUN, run)
    else:
        run_audit(AuditAction.RERUN, run, changes={"of": {"from": None, "to": str(rerun_of.pk)}})


def run_enqueue_task(
    *,
    spec: RunSpec,
    priority: int = 0,
    idempotency_key: str | None = None,
    triggered_by=None,
    rerun_of: Run | None = None,
) -> tuple[Run, bool]:
    """Queue an ad-hoc LocalFlow task (no job): what it runs is `spec`."""
    existing = _existing(idempotency_key=idempotency_key)
    if existing is not None:
        return existing, False
    now = timezone.now()
    try:
        with transaction.atomic():
            run = Run.objects.create(
                job=None,
                status=RunStatus.PENDING,
                trigger_type=TriggerType.API,
                triggered_by=triggered_by,
                spec=spec.to_json(),
                priority=priority,
                available_at=now,
                idempotency_key=idempotency_key or None,
            )
            _wake_on_commit()
            _notify_status_on_commit(run.id)
            _run_started_audit(run, rerun_of)
    except IntegrityError:
        existing = _existing(idempotency_key=idempotency_key)
        if existing is None:
            raise
        return existing, False
    return run, True


def run_cancel(*, run: Run, by=None) -> Run:
    """Idempotent. Pending: cancelled at once. Running: the executor (maybe another process)
    sees cancel_requested_at and kills the process tree within about a second."""
    now = timezone.now()
    who = f" by {by.get_username()}" if by is not None else ""
    with transaction.atomic():
        cancelled = Run.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(
            status=RunStatus.CANCELLED,
            cancel_requested_at=now,
            finished_at=now,
            error_message=f"cancelled{who} before it started",
        )
        if cancelled:
            run_system_line(run=run, text=f"cancelled{who} before it started", now=now)
            run_audit(AuditAction.CANCEL, run)
        elif Run.objects.filter(
            pk=run.pk, status=RunStatus.RUNNING, cancel_requested_at__isnull=True
        ).update(cancel_requested_at=now):
            run_audit(AuditAction.CANCEL, run)
        _notify_status_on_commit(run.pk)
    run.refresh_from_db()
    if cancelled:
        transaction.on_commit(lambda: notify_final(run))
    return run


def run_rerun(*, run: Run, by) -> tuple[Run, bool]:
    """A new manual run of the same job (or, for an ad-hoc task, of the same spec)."""
    if run.job_id is None:
        spec = RunSpec.from_json(run.spec)
        return run_enqueue_task(spec=spec, priority=run.priority, triggered_by=by, rerun_of=run)
    return run_enqueue(job=run.job, trigger_type=TriggerType.MANUAL, triggered_by=by, rerun_of=run)


def notify_final(run: Run) -> None:
    """Tell the layers above about a run's final state; can never fail or block the caller."""
    for receiver, result in run_finished.send_robust(sender=Run, run=run):
        if isinstance(result, Exception):
            logger.error(
                "run_finished receiver %s failed for run %s", receiver, run.pk, exc_info=result
            )


def active_runs_cancel(sender, *, job, **kwargs) -> None:
    """jobs.seams.job_deleting: cancel the job's active runs so the engine stops them (the
    audit trail names the engine, on behalf of whoever deletes the job)."""
    with audit_context(surface=Surface.ENGINE):
        for run in job.runs.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]):
            run_cancel(run=run)


def run_system_line(*, run: Run, text: str, now=None) -> None:
    """Append one system line to a run that no executor writes (cancelled while pending,
    marked lost), numbered after the last stored line."""
    now = now or timezone.now()
    last = (
        LogChunk.objects.filter(run=run).order_by("-last_line").values_list("last_line", flat=True)
    ).first() or 0
    _system_chunk(run, last + 1, text, now).save(force_insert=True)
    Run.objects.filter(pk=run.pk).update(log_lines=last + 1, log_bytes=F("log_bytes") + len(text))
    run.log_lines = last + 1


def run_log_lines(*, run: Run, after: int = 0, limit: int = 1000) -> list[LogLine]:
    """Lines numbered after+1 ... after+limit (fewer at the end), in order."""
    lines: list[LogLine] = []
    if limit <= 0:
        return lines
    cursor = after
    while len(lines) < limit:
        chunks = list(
            LogChunk.objects.filter(run=run, last_line__gt=cursor).order_by("first_line")[:16]
        )
        if not chunks:
            break
        for chunk in chunks:
            for line in decode_chunk(chunk):
                if line.number > cursor:
                    lines.append(line)
                    cursor = line.number
                    if len(lines) >= limit:
                        return lines
    return lines


def run_log_text(*, run: Run) -> Iterator[str]:
    """The whole stored log as text lines for download: `<UTC time> <stream> <text>\\n`."""
    cursor = 0
    while True:
        chunks = list(
            LogChunk.objects.filter(run=run, first_line__gt=cursor)
            .order_by("first_line")
            .only("first_line", "last_line", "created_at", "data")[:32]
        )
        if not chunks:
            return
        for chunk in chunks:
            for line in decode_chunk(chunk):
                yield f"{iso(line.timestamp)} {line.stream:<6} {line.content}\n"
            cursor = chunk.last_line
