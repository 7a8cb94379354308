"""Job workflows: create/update/enable/delete with validation and an always-consistent
`next_run_at`, and schedule previews (the minute tick that fires them is runs.engine.tick).

Validation lives here (job_errors) and nowhere else: the API's serializers only shape input and
the editor's form only parses it; both show these messages. When only the schedule (or zone)
is wrong, job_create/job_update raise jobs.schedule.ScheduleError (keys: grid fields,
"cron_expr", "schedule", "timezone"); when a job field is wrong they raise django's
ValidationError with a field -> messages dict, in which schedule problems appear as
"schedule.<field>" keys.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_snapshot
from accounts.models import AuditAction
from jobs.audit import job_audit, job_audit_update
from jobs.followups import followups_clean, followups_save
from jobs.models import Job, JobKind, Schedule
from jobs.params import params_declaration_tidy
from jobs.rules import http_errors, notify_errors, params_errors
from jobs.schedule import (
    ScheduleError,
    schedule_next,
    schedule_preview,
    schedule_validate,
    zone_get,
)
from jobs.seams import job_deleting
from jobs.secrets import job_secret_values, secrets_seal
from jobs.webhook_secrets import webhook_secret_new
from taskflow_site.lib.jobuser import isolation, run_as_refusal

logger = logging.getLogger("taskflow.scheduler")

# What job_create / job_update accept, in the model's order (the admin editor uses it too).
EDITABLE_FIELDS = (
    "name",
    "description",
    "kind",
    "script",
    "shell",
    "command",
    "http_method",
    "http_url",
    "http_headers",
    "http_body",
    "working_dir",
    "run_as",
    "env_vars",
    "secret_env_vars",
    "timeout_seconds",
    "max_memory_mb",
    "max_cpu_percent",
    "max_cpu_sustain_seconds",
    "max_processes",
    "retry_count",
    "retry_delay_seconds",
    "retry_backoff",
    "retry_backoff_max_seconds",
    "retry_exit_codes",
    "priority",
    "overlap_policy",
    "max_queued",
    "catchup_policy",
    "catchup_window_seconds",
    "enabled",
    "timezone",
    "notify_emails",
    "notify_on",
    "notify_on_change_only",
    "notify_daily_cap",
    "webhook_urls",
    "params",
)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
RESERVED_ENV_PREFIX = "TASKFLOW_"  # the engine sets TASKFLOW_RUN_ID / TASKFLOW_JOB_ID
# How large a job may grow: the API and the editor both come through here.
TEXT_MAX = {
    "description": 10_000,
    "script": 1_000_000,
    "http_body": 1_000_000,
    "notify_emails": 5000,
}
VALUE_MAX = 100_000  # one argv item or environment value
ARGV_MAX = 1000
RANGES = {
    "retry_count": (0, 100),
    "retry_delay_seconds": (0, 86400),
    "retry_backoff_max_seconds": (0, 7 * 86400),
    "priority": (-1000, 1000),
    "max_queued": (1, 10_000),
    "catchup_window_seconds": (0, 366 * 86400),
    "notify_daily_cap": (0, 10_000),
    "max_memory_mb": (1, 1 << 20),
    "max_cpu_percent": (1, 100_000),
    "max_cpu_sustain_seconds": (0, 86400),
    "max_processes": (1, 100_000),
}
MAX_PREVIEW = 100
_UNCHANGED = object()
# What decides what a job executes (and as whom, with which limits). While jobs run with the
# server's own uid only admins change these: a user who could would hold the server's keys
# (docs/architecture.md, record 12).
WHAT_RUNS_FIELDS = (
    "kind",
    "script",
    "shell",
    "command",
    "http_method",
    "http_url",
    "http_headers",
    "http_body",
    "working_dir",
    "env_vars",
    "secret_env_vars",
    # the parameters' declaration bounds what reaches the script and an HTTP job's request
    # (choices, types): loosening it is changing what runs (a follow-up is not: it only
    # starts jobs the owner may run, checked when saved and when it fires)
    "params",
    "run_as",
    "max_memory_mb",
    "max_cpu_percent",
    "max_cpu_sustain_seconds",
    "max_processes",
)
# run_as and the resource limits are an admin's choice in every mode: a user who set them could
# take the machine from everyone else's jobs
ADMIN_ONLY_FIELDS = (
    "run_as",
    "max_memory_mb",
    "max_cpu_percent",
    "max_cpu_sustain_seconds",
    "max_processes",
)


# ---- validation ------------------------------------------------------------------------------


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _absolute(path) -> bool:
    """An absolute path, or a value full_clean already reports (blank, not text)."""
    return not isinstance(path, str) or not path or (path.startswith("/") and "\x00" not in path)


def _env_errors(errors: dict, field: str, value) -> None:
    if not isinstance(value, dict):
        _add(errors, field, "Must be an object of NAME: value.")
        return
    for name, text in value.items():
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
            _add(errors, field, f"{name!r} is not a valid variable name (letters, digits, _).")
        elif name.upper().startswith(RESERVED_ENV_PREFIX):
            _add(errors, field, f"{name}: names starting with {RESERVED_ENV_PREFIX} are reserved.")
        elif not isinstance(text, str):
            _add(errors, field, f"{name}: the value must be a string.")
        elif "\x00" in text:
            _add(errors, field, f"{name}: the value must not contain NUL.")
        elif len(text) > VALUE_MAX:
            _add(errors, field, f"{name}: at most {VALUE_MAX} characters.")


def _command_errors(errors: dict, job: Job) -> None:
    argv = job.command
    command = job.kind == JobKind.COMMAND
    if command and (not isinstance(argv, list) or not argv):
        _add(errors, "command", "A command job needs argv: a non-empty list of strings.")
    elif (
        not isinstance(argv, list)
        or not all(isinstance(part, str) for part in argv)
        or (command and not argv[0].strip())
    ):
        _add(errors, "command", "Every argv item must be a string; the first not empty.")
    elif len(argv) > ARGV_MAX or any(len(part) > VALUE_MAX or "\x00" in part for part in argv):
        _add(errors, "command", f"At most {ARGV_MAX} items of {VALUE_MAX} characters, no NUL.")


def job_errors(job: Job) -> dict[str, list[str]]:
    """Field -> messages for everything about a job except its schedule: the one set of job
    rules (the API's serializers only shape input, the editor's form only parses it)."""
    errors: dict[str, list[str]] = {}
    try:
        job.full_clean(exclude=["created_by", "next_run_at", "last_run_at"], validate_unique=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            for message in messages:
                _add(errors, field, message)

    max_timeout = settings.TASKFLOW["MAX_JOB_TIMEOUT"]
    if _whole(job.timeout_seconds) and not 1 <= job.timeout_seconds <= max_timeout:
        _add(errors, "timeout_seconds", f"Must be between 1 and {max_timeout} seconds.")
    for field, (low, high) in RANGES.items():
        value = getattr(job, field)
        if field not in errors and _whole(value) and not low <= value <= high:
            _add(errors, field, f"Must be between {low} and {high}.")
    for field, limit in TEXT_MAX.items():
        value = getattr(job, field)
        if isinstance(value, str) and len(value) > limit:
            _add(errors, field, f"At most {limit} characters.")
    try:
        if "timezone" not in errors:
            zone_get(job.timezone)
    except ScheduleError as exc:
        errors["timezone"] = exc.errors["timezone"]
    if isinstance(job.name, str) and any(ch in job.name for ch in "\r\n\x00"):
        _add(errors, "name", "Must be one line of text.")
    if not _absolute(job.working_dir):
        _add(errors, "working_dir", "Must be an absolute path.")
    if isinstance(job.run_as, str) and job.run_as:
        refusal = run_as_refusal(job.run_as, settings.TASKFLOW["RUN_AS_USERS"])
        if refusal:
            _add(errors, "run_as", refusal)
    if not _absolute(job.shell):
        _add(errors, "shell", "Must be an absolute path such as /bin/bash.")
    if job.kind == JobKind.SHELL and (not isinstance(job.script, str) or not job.script.strip()):
        _add(errors, "script", "A shell job needs a script.")
    _command_errors(errors, job)
    http_errors(errors, job)
    for field in ("env_vars", "secret_env_vars"):
        _env_errors(errors, field, getattr(job, field))
    notify_errors(errors, job)
    codes = job.retry_exit_codes
    if (
        not isinstance(codes, list)
        or len(codes) > 255
        or not all(_whole(code) and 1 <= code <= 255 for code in codes)
    ):
        _add(errors, "retry_exit_codes", "Must be a list of exit codes 1-255 (empty = any).")
    params_errors(errors, job)
    return errors


def _schedule_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """ScheduleError keys -> job-level keys ("timezone" stays, others get "schedule.")."""
    mapped: dict[str, list[str]] = {}
    for field, messages in errors.items():
        key = field if field in {"timezone", "schedule"} else f"schedule.{field}"
        mapped.setdefault(key, []).extend(messages)
    return mapped


def _raise(errors: dict[str, list[str]], schedule_errors: dict[str, list[str]]) -> None:
    if errors:
        for field, messages in _schedule_errors(schedule_errors).items():
            errors.setdefault(field, []).extend(messages)
        raise ValidationError(errors)
    if schedule_errors:
        raise ScheduleError(schedule_errors)


def _tidy(job: Job, fields: dict) -> None:
    """The one stored form of what `fields` set: e-mail addresses as "a@x, b@y"."""
    if "notify_emails" in fields and isinstance(job.notify_emails, str):
        job.notify_emails = ", ".join(job.notify_email_list)
    if "params" in fields:
        job.params = params_declaration_tidy(job.params)


def jobs_run_apart() -> bool:
    """Do jobs run as a job user, apart from the server (taskflow_site.lib.jobuser)?"""
    return isolation(settings.TASKFLOW["JOB_USER"]).separated


def job_fields_refused(*, user, job: Job, fields: dict) -> list[str]:
    """The fields among `fields` that `user` may not change on `job` (sending a field's
    current value is no change): run_as unless an admin; what the job runs too while jobs
    run with the server's uid."""
    if user.is_admin:
        return []
    guarded = ADMIN_ONLY_FIELDS if jobs_run_apart() else WHAT_RUNS_FIELDS
    refused = []
    for name in guarded:
        if name not in fields:
            continue
        secret = name == "secret_env_vars"
        current = job_secret_values(job) if secret else getattr(job, name, None)
        if fields[name] != current:
            refused.append(name)
    return refused


def _reject_unknown(fields: dict) -> None:
    unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({key: ["This field cannot be set."] for key in unknown})


# ---- schedules -------------------------------------------------------------------------------


def job_schedule(job: Job) -> dict | None:
    """The job's schedule as a dict (Schedule.as_dict), None when it has none."""
    try:
        return job.schedule.as_dict()
    except Schedule.DoesNotExist:
        return None


def job_next_run(*, job: Job, after: datetime) -> datetime | None:
    """The job's first fire time strictly after `after` (UTC), None without a schedule."""
    data = job_schedule(job)
    if data is None:
        return None
    return schedule_next(data, job.timezone, after)


def job_preview(
    *, schedule: dict, tz_name: str, count: int = 5, after: datetime | None = None
) -> list[datetime]:
    """The next `count` fire times (UTC) of a schedule in a zone; raises ScheduleError.

    The same code path as the tick, so the preview is what the scheduler will do."""
    after = after or timezone.now()
    cleaned = schedule_validate(schedule, tz_name, now=after)
    if isinstance(count, bool) or not isinstance(count, int):
        raise ScheduleError({"count": ["Must be a whole number."]})
    count = max(1, min(count, MAX_PREVIEW))
    return schedule_preview(cleaned, tz_name, after, count)


# ---- CRUD ------------------------------------------------------------------------------------


def _next_run_at(job: Job, schedule: dict | None, now: datetime) -> datetime | None:
    if not job.enabled or schedule is None:
        return None
    return schedule_next(schedule, job.timezone, now)


def _links(job: Job, followups, errors: dict) -> list[dict] | None:
    """Cleaned follow-ups (None: unchanged); jobs.followups' messages go under "followups"."""
    links, messages = followups_clean(job, followups) if followups is not _UNCHANGED else (None, [])
    errors.update({"followups": messages} if messages else {})
    return links


def job_create(*, created_by, schedule: dict | None = None, followups=(), **fields) -> Job:
    """A new job (and its schedule and follow-ups), with next_run_at computed from now.

    Creation never fires a past slot: the first run is the first slot strictly after now."""
    now = timezone.now()
    _reject_unknown(fields)
    job = Job(created_by=created_by, **fields)
    _tidy(job, fields)
    errors = job_errors(job)
    links = _links(job, list(followups), errors)
    cleaned, schedule_errors = None, {}
    if schedule is not None and "timezone" not in errors:
        try:
            cleaned = schedule_validate(schedule, job.timezone, now=now)
        except ScheduleError as exc:
            schedule_errors = exc.errors
    _raise(errors, schedule_errors)
    job.secret_env_vars = secrets_seal(job.secret_env_vars, stored={})
    job.next_run_at = _next_run_at(job, cleaned, now)
    secret, job.webhook_secret = webhook_secret_new()
    with transaction.atomic():
        job.save()
        if cleaned is not None:
            Schedule.objects.create(job=job, **cleaned)
        followups_save(job, links)
        job_audit(AuditAction.CREATE, job)
    job.webhook_secret_shown = secret  # the API returns it this once
    return job


def job_update(*, job: Job, schedule=_UNCHANGED, followups=_UNCHANGED, **fields) -> Job:
    """Change fields, the schedule (None removes it) and/or the follow-ups in one transaction.

    next_run_at is recomputed from now when the schedule, the zone or the enabled flag changes
    (a fresh start: no catch-up of past slots); other edits leave it alone, so a pending
    catch-up after downtime survives an edit of the script."""
    now = timezone.now()
    _reject_unknown(fields)
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        current = job_schedule(locked)
        before = (locked.timezone, locked.enabled)
        stored_secrets = locked.secret_env_vars
        audited = audit_snapshot(locked, fields)
        for name, value in fields.items():
            setattr(locked, name, value)
        _tidy(locked, fields)
        errors = job_errors(locked)
        links = _links(locked, followups, errors)
        target = current if schedule is _UNCHANGED else schedule
        cleaned, schedule_errors = None, {}
        if target is not None and "timezone" not in errors:
            try:
                cleaned = schedule_validate(target, locked.timezone, now=now)
            except ScheduleError as exc:
                schedule_errors = exc.errors
        _raise(errors, schedule_errors)
        if "secret_env_vars" in fields:
            locked.secret_env_vars = secrets_seal(locked.secret_env_vars, stored=stored_secrets)

        changed = set(fields)
        if (locked.timezone, locked.enabled) != before or cleaned != current:
            locked.next_run_at = _next_run_at(locked, cleaned, now)
            changed.add("next_run_at")
        if changed:
            locked.save(update_fields=[*sorted(changed), "updated_at"])
        if cleaned != current:
            if cleaned is None:
                Schedule.objects.filter(job=locked).delete()
            else:
                Schedule.objects.update_or_create(job=locked, defaults=cleaned)
            # the cached reverse relation would otherwise keep the old row
            locked._state.fields_cache.pop("schedule", None)
        changes = followups_save(locked, links) if links is not None else {}
        job_audit_update(
            locked,
            before=audited,
            fields=fields,
            extra=changes,
            schedule_before=current,
            schedule_after=cleaned,
        )
    return locked


def job_set_owner(*, job: Job, owner) -> Job:
    """Give a job to another user (an admin-only assignment; callers check the role).

    Kept apart from job_update, which edits what a job does: ownership decides who sees it."""
    if owner is None or not owner.is_active:
        raise ValidationError({"created_by": ["The owner must be an active user."]})
    if owner.pk != job.created_by_id:
        change = {"from": job.created_by.username if job.created_by else None, "to": owner.username}
        with transaction.atomic():
            Job.objects.filter(pk=job.pk).update(created_by=owner, updated_at=timezone.now())
            job.created_by = owner
            job_audit(AuditAction.UPDATE, job, changes={"created_by": change})
    return job


def job_set_enabled(*, job: Job, enabled: bool) -> Job:
    """Disable (never fires, next_run_at cleared) or enable (fresh start from now)."""
    return job_update(job=job, enabled=bool(enabled))


def job_delete(*, job: Job) -> None:
    """Delete a job with its schedule and history; active runs are cancelled first so the
    engine stops their processes."""
    job_deleting.send(sender=Job, job=job)
    with transaction.atomic():
        job_audit(AuditAction.DELETE, job)
        job.delete()
