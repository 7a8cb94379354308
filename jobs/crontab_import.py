"""Importing a crontab as jobs (jobs.crontab reads it): a dry run that shows each job and its
next runs, then the same plan saved through jobs.services.job_create, so the job rules and the
audit trail are the ones every job goes through. One `import` audit entry sums it up.

Identity (importing twice never duplicates): an entry IS an existing job of the same owner with
the same zone, the same cron expression (as Vixie cron reads it: macros expanded, names
upper-cased) and the same script. The crontab's comment (the name), MAILTO and variables are
not part of it: re-importing a crontab whose names were edited finds the jobs already made,
and a job whose command was since edited in TaskFlow is no longer that entry. Nothing is
stored for this (no import key column): a job made by hand that runs the same command at the
same times for the same owner is the same job too.

Next runs come from jobs.services.job_preview: the scheduler's own code path, in the job's zone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, User
from jobs.crontab import Crontab, Entry, Reported, crontab_parse
from jobs.models import Job
from jobs.schedule import ScheduleError, cron_fields, cron_normalize
from jobs.services import job_create, job_errors, job_preview
from jobs.timezones import server_timezone_name
from taskflow_site.lib.formatting import iso

PREVIEW_COUNT = 3
TEXT_MAX = 1_000_000


class CrontabRefused(ValueError):
    """The crontab as a whole cannot be imported (too large, not text)."""


@dataclass
class Planned:
    entry: Entry
    next_runs: list
    job: Job | None = None  # the existing (or, once saved, the new) job
    created: bool = False


def _identity(owner_id, zone: str, cron_expr: str, script: str) -> tuple:
    return owner_id, zone, cron_fields(cron_normalize(cron_expr)), script


def _existing(owner) -> dict[tuple, Job]:
    jobs = Job.objects.filter(created_by=owner, schedule__isnull=False).select_related("schedule")
    return {
        _identity(owner.pk, job.timezone, job.schedule.cron_expr, job.script): job
        for job in jobs
        if job.schedule.cron_expr
    }


def _messages(errors: dict) -> str:
    return "; ".join(f"{name}: {' '.join(map(str, texts))}" for name, texts in errors.items())


def _plan(crontab: Crontab, owner, now) -> tuple[list[Planned], list[Reported]]:
    """Each entry checked by the job rules, with its next runs and its existing job if any;
    entries the rules refuse and repeats of an earlier line are reported."""
    existing = _existing(owner)
    reported = list(crontab.reported)
    planned: list[Planned] = []
    seen: dict[tuple, int] = {}
    for entry in crontab.entries:
        key = _identity(owner.pk, entry.timezone, entry.cron_expr, entry.script)
        if key in seen:
            reason = f"the same schedule and command as line {seen[key]}"
            reported.append(Reported(entry.line, entry.text, reason))
            continue
        errors = job_errors(Job(created_by=owner, **entry.job_fields()))
        runs: list = []
        try:
            runs = job_preview(
                schedule={"cron_expr": entry.cron_expr},
                tz_name=entry.timezone,
                count=PREVIEW_COUNT,
                after=now,
            )
        except ScheduleError as exc:
            errors.update(exc.errors)
        if errors:
            reported.append(Reported(entry.line, entry.text, _messages(errors)))
            continue
        seen[key] = entry.line
        planned.append(Planned(entry=entry, next_runs=runs, job=existing.get(key)))
    reported.sort(key=lambda item: item.line)
    return planned, reported


def _save(planned: list[Planned], owner, text: str) -> None:
    for item in planned:
        if item.job is None:
            try:
                item.job = job_create(
                    created_by=owner,
                    schedule={"cron_expr": item.entry.cron_expr},
                    **item.entry.job_fields(),
                )
            except (ValidationError, ScheduleError) as exc:  # checked just before: a race
                raise CrontabRefused(f"line {item.entry.line}: {exc}") from None
            item.created = True
    made = [item.job.name for item in planned if item.created]
    audit_record(
        action=AuditAction.IMPORT,
        obj_type="crontab",
        obj_id=hashlib.sha256(text.encode()).hexdigest()[:16],
        obj_repr=f"crontab for {owner.get_username()}: {len(made)} new job(s)",
        subject_user=owner,
        changes={
            "created": {"from": None, "to": made},
            "existing": str(sum(1 for item in planned if not item.created)),
        },
    )


def crontab_import(*, text: str, owner, dry_run: bool, format: str = "auto", now=None) -> dict:
    """Read `text`, check every entry and (unless `dry_run`) create the jobs not yet there, all
    or none; returns what the API, the admin page and the command show (camelCase where the
    server computed it, docs/api.md)."""
    if not isinstance(text, str) or "\x00" in text or len(text) > TEXT_MAX:
        raise CrontabRefused(f"A crontab is text of at most {TEXT_MAX} characters.")
    now = now or timezone.now()
    crontab = crontab_parse(
        text,
        default_zone=server_timezone_name(),
        run_as_users=list(settings.TASKFLOW["RUN_AS_USERS"]),
        format=format,
    )
    if dry_run:
        planned, reported = _plan(crontab, owner, now)
    else:
        with transaction.atomic():
            # one import per owner at a time (PostgreSQL; SQLite's IMMEDIATE transactions
            # already take the write lock first): the second sees the first one's jobs
            User.objects.select_for_update().filter(pk=owner.pk).first()
            planned, reported = _plan(crontab, owner, now)
            _save(planned, owner, text)
    return {
        "dryRun": dry_run,
        "format": "system" if crontab.system else "user",
        "owner": owner.get_username(),
        "jobs": [_job_view(item, dry_run) for item in planned],
        "reported": [vars(item) for item in reported],
        "created": sum(1 for item in planned if item.created),
        "existing": sum(1 for item in planned if item.job is not None and not item.created),
    }


def _job_view(item: Planned, dry_run: bool) -> dict:
    entry = item.entry
    if item.created:
        status = "created"
    elif item.job is not None:
        status = "exists"
    else:
        status = "new"
    return {
        "line": entry.line,
        "status": status,
        "jobId": str(item.job.pk) if item.job is not None else None,
        "name": entry.name,
        "cron_expr": entry.cron_expr,
        "timezone": entry.timezone,
        "command": entry.command,
        "script": entry.script,
        "shell": entry.shell,
        "env_vars": entry.env_vars,
        "notify_emails": entry.notify_emails,
        "run_as": entry.run_as,
        "nextRuns": [iso(when) for when in item.next_runs],
    }
