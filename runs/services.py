"""Run workflows: enqueue (with overlap, queue bound and idempotency), cancel, re-run, logs.

The Run table is the durable queue (DESIGN.md decision 1); the executor claims from it
(runs.engine.claim) and wakes on `wake_workers()` sent after each enqueue commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from runs.engine.wake import wake_workers
from runs.live import notify_run_changed
from runs.logformat import LogLine, decode_chunk, encode_lines
from runs.models import LogChunk, Run, RunStatus, TriggerType
from runs.seams import run_finished

logger = logging.getLogger(__name__)

SPEC_KINDS = {"shell", "command", "http"}


class SpecError(ValueError):
    """An ad-hoc task spec that cannot be run; the message is meant for a human."""


def _timeout(value) -> int:
    limit = settings.TASKFLOW["MAX_JOB_TIMEOUT"]
    try:
        seconds = int(value) if value is not None else 3600
    except (TypeError, ValueError) as exc:
        raise SpecError("timeout_seconds must be an integer") from exc
    return max(1, min(seconds, limit))


def _retry_policy(data: dict | None) -> dict:
    data = data or {}
    return {
        "count": max(0, int(data.get("count", 0) or 0)),
        "delay_seconds": max(0, int(data.get("delay_seconds", 60) or 0)),
        "backoff": bool(data.get("backoff", False)),
        "backoff_max_seconds": max(0, int(data.get("backoff_max_seconds", 3600) or 0)),
        "exit_codes": [int(code) for code in data.get("exit_codes") or []],
    }


def job_spec(job) -> dict:
    """What to execute, frozen at enqueue time, so editing the job never changes a queued run."""
    retry = _retry_policy(
        {
            "count": job.retry_count,
            "delay_seconds": job.retry_delay_seconds,
            "backoff": job.retry_backoff,
            "backoff_max_seconds": job.retry_backoff_max_seconds,
            "exit_codes": job.retry_exit_codes,
        }
    )
    if job.kind == "http":
        return {
            "kind": "http",
            "method": job.http_method or "GET",
            "url": job.http_url,
            "headers": dict(job.http_headers or {}),
            "body": job.http_body,
            "timeout_seconds": _timeout(job.timeout_seconds),
            "retry": retry,
        }
    spec = {
        "kind": job.kind,
        "shell": job.shell or "/bin/bash",
        "working_dir": job.working_dir or "/tmp",  # noqa: S108 (seed default)
        "env": {str(k): str(v) for k, v in (job.env_vars or {}).items()},
        "secret_env": {str(k): str(v) for k, v in (job.secret_env_vars or {}).items()},
        "timeout_seconds": _timeout(job.timeout_seconds),
        "retry": retry,
    }
    if job.kind == "command":
        spec["argv"] = [str(part) for part in job.command or []]
    else:
        spec["script"] = job.script
    return spec


def spec_normalize(spec: dict) -> dict:
    """An ad-hoc task spec (LocalFlow /api/tasks) with defaults filled; SpecError if unusable."""
    if not isinstance(spec, dict) or spec.get("kind") not in SPEC_KINDS:
        raise SpecError(f"kind must be one of {', '.join(sorted(SPEC_KINDS))}")
    kind = spec["kind"]
    out = {"kind": kind, "timeout_seconds": _timeout(spec.get("timeout_seconds"))}
    out["retry"] = _retry_policy(spec.get("retry"))
    if kind == "http":
        if not spec.get("url"):
            raise SpecError("url is required for an http task")
        out.update(
            method=str(spec.get("method") or "GET").upper(),
            url=str(spec["url"]),
            headers={str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
            body=spec.get("body") or "",
        )
        return out
    if kind == "shell":
        if not isinstance(spec.get("script"), str) or not spec["script"].strip():
            raise SpecError("script is required for a shell task")
        out["script"] = spec["script"]
        out["shell"] = str(spec.get("shell") or "/bin/bash")
    else:
        argv = spec.get("argv")
        if not isinstance(argv, list) or not argv:
            raise SpecError("argv must be a non-empty list for a command task")
        out["argv"] = [str(part) for part in argv]
    out["working_dir"] = str(spec.get("working_dir") or "/tmp")  # noqa: S108
    out["env"] = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
    out["secret_env"] = {str(k): str(v) for k, v in (spec.get("secret_env") or {}).items()}
    return out


def _wake_on_commit() -> None:
    """One wake-up per transaction, however many runs it queued (bulk enqueues)."""
    from django.db import connection

    if not any(entry[1] is wake_workers for entry in connection.run_on_commit):
        transaction.on_commit(wake_workers)


def _notify_status_on_commit(run_id) -> None:

    transaction.on_commit(lambda: notify_run_changed(run_id, kind="status"))


def _queue_bound(job) -> int:
    return job.max_queued or settings.TASKFLOW["MAX_QUEUED_PER_JOB"]


class _Admission:
    """The overlap/queue policy for new runs of some jobs: one query per policy kind for all
    of them, then counted in memory as runs are admitted in order (a batch holding two slots
    of one job decides the second as if the first were already queued)."""

    def __init__(self, jobs):
        by_id = {job.pk: job for job in jobs}
        skip_ids = [pk for pk, job in by_id.items() if job.overlap_policy == "skip"]
        queue_ids = [pk for pk, job in by_id.items() if job.overlap_policy != "skip"]
        runs = Run.objects.order_by()
        self.busy: set = set()
        if skip_ids:
            # served by the small partial indexes (pending / running runs per job)
            self.busy = set(
                runs.filter(job_id__in=skip_ids, status__in=[RunStatus.PENDING, RunStatus.RUNNING])
                .values_list("job_id", flat=True)
                .distinct()
            )
        self.pending: dict = {}
        if queue_ids:
            self.pending = dict(
                runs.filter(job_id__in=queue_ids, status=RunStatus.PENDING)
                .values_list("job_id")
                .annotate(count=Count("id"))
            )

    def reason(self, job) -> str | None:
        """Why a new run of `job` must be skipped right now, or None."""
        if job.overlap_policy == "skip":
            if job.pk in self.busy:
                return "skipped: the previous run of this job is still pending or running"
            return None
        bound = _queue_bound(job)
        if self.pending.get(job.pk, 0) >= bound:
            return f"skipped: queue full ({bound} runs of this job already pending)"
        return None

    def admit(self, job) -> None:
        self.busy.add(job.pk)
        self.pending[job.pk] = self.pending.get(job.pk, 0) + 1


def _new_run(
    *, job, admission: _Admission, spec: dict, now, **fields
) -> tuple[Run, LogChunk | None]:
    """An unsaved Run of `job` decided by the policy; a skipped one comes with its system line."""
    reason = admission.reason(job)
    if reason is None:
        admission.admit(job)
    run = Run(
        job=job,
        status=RunStatus.SKIPPED if reason else RunStatus.PENDING,
        spec=spec,
        priority=job.priority,
        error_message=reason or "",
        finished_at=now if reason else None,
        log_lines=1 if reason else 0,
        log_bytes=len(reason) if reason else 0,
        **fields,
    )
    if reason is None:
        return run, None
    line = LogChunk(
        run=run,
        first_line=1,
        last_line=1,
        created_at=now,
        data=encode_lines([("system", 0, reason)]),
    )
    return run, line


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
) -> tuple[Run, bool]:
    """Queue a run of `job`. Returns (run, created); an existing run for the same idempotency
    key or (job, scheduled_for) slot is returned with created=False. A run that the job's
    overlap/queue policy refuses is recorded as SKIPPED with the reason."""
    existing = _existing(idempotency_key=idempotency_key, job=job, scheduled_for=scheduled_for)
    if existing is not None:
        return existing, False
    now = timezone.now()
    try:
        with transaction.atomic():
            run, line = _new_run(
                job=job,
                admission=_Admission([job]),
                spec=job_spec(job),
                now=now,
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
    except IntegrityError:
        # lost a race with another enqueue of the same key/slot: theirs is the run
        existing = _existing(idempotency_key=idempotency_key, job=job, scheduled_for=scheduled_for)
        if existing is None:
            raise
        return existing, False
    return run, True


def run_enqueue_many(*, items: list[dict]) -> list[tuple[Run, bool]]:
    """run_enqueue for many runs at once (the tick): each item holds run_enqueue's keyword
    arguments (job, trigger_type, scheduled_for, triggered_by, available_at). Same results and
    semantics, item by item in order, at a fixed number of queries: existing slots in one
    query, the policy in one or two, the rows in one bulk insert, one wake-up."""
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
            admission = _Admission([item["job"] for item in items])
            specs: dict = {}
            results, runs, lines = [], [], []
            for item in items:
                job, slot = item["job"], item.get("scheduled_for")
                existing = taken.get((job.pk, slot)) if slot else None
                if existing is not None:
                    results.append((existing, False))
                    continue
                if job.pk not in specs:
                    specs[job.pk] = job_spec(job)
                run, line = _new_run(
                    job=job,
                    admission=admission,
                    spec=specs[job.pk],
                    now=now,
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


def run_enqueue_task(
    *, spec: dict, priority: int = 0, idempotency_key: str | None = None, triggered_by=None
) -> tuple[Run, bool]:
    """Queue an ad-hoc LocalFlow task (no job). Raises SpecError for an unusable spec."""
    existing = _existing(idempotency_key=idempotency_key)
    if existing is not None:
        return existing, False
    clean = spec_normalize(spec)
    now = timezone.now()
    try:
        with transaction.atomic():
            run = Run.objects.create(
                job=None,
                status=RunStatus.PENDING,
                trigger_type=TriggerType.API,
                triggered_by=triggered_by,
                spec=clean,
                priority=priority,
                available_at=now,
                idempotency_key=idempotency_key or None,
            )
            _wake_on_commit()
            _notify_status_on_commit(run.id)
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
            _system_line(run, f"cancelled{who} before it started", now=now)
        else:
            Run.objects.filter(
                pk=run.pk, status=RunStatus.RUNNING, cancel_requested_at__isnull=True
            ).update(cancel_requested_at=now)
        _notify_status_on_commit(run.pk)
    run.refresh_from_db()
    if cancelled:
        transaction.on_commit(lambda: notify_final(run))
    return run


def run_rerun(*, run: Run, by) -> tuple[Run, bool]:
    """A new manual run of the same job (or, for an ad-hoc task, of the same spec)."""
    if run.job_id is None:
        return run_enqueue_task(spec=run.spec, priority=run.priority, triggered_by=by)
    return run_enqueue(job=run.job, trigger_type=TriggerType.MANUAL, triggered_by=by)


def notify_final(run: Run) -> None:
    """Tell the layers above about a run's final state; can never fail or block the caller."""
    for receiver, result in run_finished.send_robust(sender=Run, run=run):
        if isinstance(result, Exception):
            logger.error(
                "run_finished receiver %s failed for run %s", receiver, run.pk, exc_info=result
            )


def active_runs_cancel(sender, *, job, **kwargs) -> None:
    """jobs.seams.job_deleting: cancel the job's active runs so the engine stops them."""
    for run in job.runs.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]):
        run_cancel(run=run)


def _system_line(run: Run, text: str, *, now) -> None:
    """Append one system line to a run that no executor is writing (skipped, cancelled)."""
    number = run.log_lines + 1
    LogChunk.objects.create(
        run=run,
        first_line=number,
        last_line=number,
        created_at=now,
        data=encode_lines([("system", 0, text)]),
    )
    Run.objects.filter(pk=run.pk).update(log_lines=number, log_bytes=run.log_bytes + len(text))
    run.log_lines = number


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
                stamp = line.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                yield f"{stamp} {line.stream:<6} {line.content}\n"
            cursor = chunk.last_line
