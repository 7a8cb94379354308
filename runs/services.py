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
from jobs.models import Job, JobFollowup
from jobs.params import ParamsInvalid, param_values_clean, params_masked, params_open, params_seal
from runs.admission import Admission
from runs.audit import run_audit
from runs.engine.wake import wake_workers
from runs.live import last_stored_line, log_chunks, notify_run_changed
from runs.logformat import LogLine, decode_chunk, encode_lines
from runs.models import LogChunk, Run, RunStatus, TriggerType
from runs.seams import run_finished
from runs.spec import RunSpec
from taskflow_site.lib.formatting import iso

logger = logging.getLogger(__name__)

# the engine's own triggers: a run of these whose parameters cannot be filled (a required one
# without a default) is recorded as skipped, with the reason; a person's run is refused (400)
ENGINE_TRIGGERS = frozenset({TriggerType.SCHEDULED, TriggerType.CATCHUP})


class IdempotencyConflict(Exception):
    """An idempotency key already used for a run with other parameter values."""


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


def _values(job, params, *, trigger_type: str, skip_reason: str | None) -> tuple[dict, str | None]:
    """(the run's cleaned values, skip_reason): jobs.params.ParamsInvalid for a person's run;
    a run already being skipped, or the engine's, is skipped with what is wrong."""
    try:
        return param_values_clean(job.params, params), skip_reason
    except ParamsInvalid as exc:
        if skip_reason is None and (params is not None or trigger_type not in ENGINE_TRIGGERS):
            raise
        return {}, skip_reason or f"not run: parameters: {exc}"


def _same_values(existing: Run, values: dict, idempotency_key) -> Run:
    """The run an idempotency key found, if it was made with the same values."""
    if idempotency_key and params_open(existing.params) != values:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used for a run with other parameter values."
        )
    return existing


def _links(jobs) -> dict:
    """Job id -> its chain links as a run's spec freezes them (one query for all `jobs`)."""
    rows = JobFollowup.objects.filter(job__in={job.pk for job in jobs}).order_by("position", "pk")
    links: dict = {}
    for job_id, target, on, params in rows.values_list("job_id", "target_id", "on", "params"):
        links.setdefault(job_id, []).append({"job": str(target), "on": on, "params": params})
    return links


def _chain(parent: Run | None) -> dict:
    """A follow-up's place in its chain: the parent run, how it ended, how deep."""
    if parent is None:
        return {}
    depth = int(((parent.spec or {}).get("chain") or {}).get("depth", 0))
    return {"parent": str(parent.pk), "status": parent.status, "depth": depth + 1}


def _after_enqueue(runs: list[Run]) -> None:
    """On commit: one wake-up if anything is pending, the dashboards nudged ("queued")."""

    if any(run.status == RunStatus.PENDING for run in runs):
        _wake_on_commit()
    ids = [run.pk for run in runs]
    transaction.on_commit(lambda: [notify_run_changed(pk, kind="queued") for pk in ids])


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
    params: dict | None = None,
    chained_from: Run | None = None,
) -> tuple[Run, bool]:
    """Queue a run of `job`. Returns (run, created); an existing run for the same idempotency
    key or (job, scheduled_for) slot is returned with created=False (IdempotencyConflict when
    the key's run had other parameter values). A run that the job's overlap/queue policy
    refuses is recorded as SKIPPED with the reason; with skip_reason (a missed slot) it is
    recorded as skipped for that reason, whatever the policy. `params` are checked against
    the job's declaration (jobs.params.ParamsInvalid), defaults filled in; a follow-up names
    the run whose end queued it (`chained_from`). A manual run goes to the audit trail (as a
    re-run of `rerun_of` when given), with its values (secret ones masked)."""
    values, skip_reason = _values(job, params, trigger_type=trigger_type, skip_reason=skip_reason)
    existing = _existing(idempotency_key=idempotency_key, job=job, scheduled_for=scheduled_for)
    if existing is not None:
        return _same_values(existing, values, idempotency_key), False
    now = timezone.now()
    spec = RunSpec.for_run(
        job, values=values, chain=_chain(chained_from), followups=_links([job]).get(job.pk, ())
    )
    try:
        with transaction.atomic():
            run, line = _new_run(
                job=job,
                admission=Admission([job]),
                spec=spec.to_json(),
                now=now,
                skip_reason=skip_reason,
                trigger_type=trigger_type,
                triggered_by=triggered_by,
                scheduled_for=scheduled_for,
                available_at=available_at or now,
                idempotency_key=idempotency_key or None,
                params=params_seal(job.params, values),
                chained_from=chained_from,
            )
            run.save(force_insert=True)
            if line is not None:
                line.save(force_insert=True)
            _after_enqueue([run])
            if trigger_type == TriggerType.MANUAL:
                _run_started_audit(run, rerun_of)
            # lastRun counts it (the tick: slots)
            if trigger_type in (TriggerType.MANUAL, TriggerType.CHAIN) and not run.is_finished:
                Job.objects.filter(pk=job.pk).update(last_run_at=run.created_at)
                job.last_run_at = run.created_at
    except IntegrityError:
        # lost a race with another enqueue of the same key/slot: theirs is the run
        existing = _existing(idempotency_key=idempotency_key, job=job, scheduled_for=scheduled_for)
        if existing is None:
            raise
        return _same_values(existing, values, idempotency_key), False
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
            links = _links([item["job"] for item in items])
            specs: dict = {}  # job id -> (spec, stored values, why not run): once per job
            results, runs, lines = [], [], []
            for item in items:
                job, slot = item["job"], item.get("scheduled_for")
                existing = taken.get((job.pk, slot)) if slot else None
                if existing is not None:
                    results.append((existing, False))
                    continue
                if job.pk not in specs:
                    values, problem = _values(
                        job, None, trigger_type=TriggerType.SCHEDULED, skip_reason=None
                    )
                    spec = RunSpec.for_run(job, values=values, followups=links.get(job.pk, ()))
                    specs[job.pk] = (spec.to_json(), params_seal(job.params, values), problem)
                spec, stored, problem = specs[job.pk]
                run, line = _new_run(
                    job=job,
                    admission=admission,
                    spec=spec,
                    now=now,
                    skip_reason=item.get("skip_reason") or problem,
                    params=stored,
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
    changes = {"params": {"from": None, "to": params_masked(run.params)}} if run.params else {}
    if rerun_of is None:
        run_audit(AuditAction.RUN, run, changes=changes or None)
    else:
        changes["of"] = {"from": None, "to": str(rerun_of.pk)}
        run_audit(AuditAction.RERUN, run, changes=changes)


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


def run_cancel(*, run: Run, by=None, follow: bool = True) -> Run:
    """Idempotent. Pending: cancelled at once (its job's "always" follow-ups queued, unless
    `follow` is false: the job is being deleted). Running: the executor (maybe another
    process) sees cancel_requested_at and kills the process tree within about a second."""
    from runs.chains import followups_start  # runs.chains queues through this module

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
            if follow:
                followups_start(run, status=RunStatus.CANCELLED)
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
    """A new manual run of the same job with the same parameter values (those the job still
    declares), or, for an ad-hoc task, of the same spec."""
    if run.job_id is None:
        spec = RunSpec.from_json(run.spec)
        return run_enqueue_task(spec=spec, priority=run.priority, triggered_by=by, rerun_of=run)
    declared = {item.get("name") for item in run.job.params or [] if isinstance(item, dict)}
    values = {k: v for k, v in params_open(run.params).items() if k in declared}
    return run_enqueue(
        job=run.job, trigger_type=TriggerType.MANUAL, triggered_by=by, rerun_of=run, params=values
    )


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
            run_cancel(run=run, follow=False)


def run_system_line(*, run: Run, text: str, now=None) -> None:
    """Append one system line to a run that no executor writes (cancelled while pending,
    marked lost), numbered after the last stored line."""
    now = now or timezone.now()
    last = last_stored_line(run.pk)
    _system_chunk(run, last + 1, text, now).save(force_insert=True)
    Run.objects.filter(pk=run.pk).update(log_lines=last + 1, log_bytes=F("log_bytes") + len(text))
    run.log_lines = last + 1


def run_log_lines(*, run: Run, after: int = 0, limit: int = 1000) -> list[LogLine]:
    """Lines numbered after+1 ... after+limit (fewer at the end, or where lines were lost to a
    full disk), in order. Each read is a range of the (run, first_line) key bounded by the
    page, so a page costs the same at the start, the middle and the end of a long log."""
    lines: list[LogLine] = []
    cursor = after
    while len(lines) < limit:
        for chunk in log_chunks(run.pk, after=cursor, upto=cursor + limit - len(lines)):
            for line in decode_chunk(chunk):
                if line.number > cursor:
                    lines.append(line)
                    cursor = line.number
                    if len(lines) >= limit:
                        return lines
        # short of the page: the end of the log, or a gap in the numbering (lost lines)
        following = (
            LogChunk.objects.filter(run=run, first_line__gt=cursor)
            .order_by("first_line")
            .values_list("first_line", flat=True)
            .first()
        )
        if following is None:
            break
        cursor = following - 1
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
