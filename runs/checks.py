"""System checks: django-q2 timings that keep a delivery alive longer than any run (A4), and
the SQLite pragmas every process must run with (D2)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

from taskflow_site.lib.dbcheck import MIN_BUSY_TIMEOUT_MS, database_pragmas


@register()
def check_q_cluster(app_configs=None, **kwargs) -> list[Error]:
    """retry > timeout >= longest job timeout + kill grace, and max_attempts set: otherwise
    django-q2 redelivers (or kills) a drain while it still executes a run."""
    conf = getattr(settings, "Q_CLUSTER", {}) or {}
    errors = []
    timeout = conf.get("timeout")
    retry = conf.get("retry")
    max_job = settings.TASKFLOW["MAX_JOB_TIMEOUT"]
    grace = settings.TASKFLOW["KILL_GRACE_SECONDS"]
    if not timeout:
        errors.append(
            Error(
                "Q_CLUSTER['timeout'] is not set: django-q2 would never stop a stuck delivery "
                "and redeliver it.",
                hint=f"Set Q_CLUSTER['timeout'] >= TASKFLOW['MAX_JOB_TIMEOUT'] ({max_job}) + "
                f"TASKFLOW['KILL_GRACE_SECONDS'] ({grace}).",
                id="runs.E001",
            )
        )
    elif timeout < max_job + grace:
        errors.append(
            Error(
                f"Q_CLUSTER['timeout'] ({timeout}) is below TASKFLOW['MAX_JOB_TIMEOUT'] "
                f"({max_job}) + TASKFLOW['KILL_GRACE_SECONDS'] ({grace}): django-q2 would kill "
                "a worker in the middle of a run and orphan its processes.",
                hint="Raise Q_CLUSTER['timeout'] or lower TASKFLOW_MAX_JOB_TIMEOUT.",
                id="runs.E002",
            )
        )
    if timeout and (not retry or retry <= timeout):
        errors.append(
            Error(
                f"Q_CLUSTER['retry'] ({retry}) must be greater than Q_CLUSTER['timeout'] "
                f"({timeout}): otherwise django-q2 redelivers a task that is still running.",
                hint="Set Q_CLUSTER['retry'] to Q_CLUSTER['timeout'] plus a margin.",
                id="runs.E003",
            )
        )
    if not conf.get("max_attempts"):
        errors.append(
            Error(
                "Q_CLUSTER['max_attempts'] is unset or 0: django-q2 would redeliver a failing "
                "task forever.",
                hint="Set Q_CLUSTER['max_attempts'] = 1 (TaskFlow retries runs itself).",
                id="runs.E004",
            )
        )
    return errors


@register(Tags.database)
def check_sqlite_pragmas(app_configs=None, databases=None, **kwargs) -> list[Error]:
    """WAL, foreign keys and a busy timeout >= 5 s on this process's SQLite connection."""
    if not databases or "default" not in databases:
        return []

    pragmas = database_pragmas()
    if pragmas.get("ok"):
        return []
    return [
        Error(
            f"SQLite connection runs with journal_mode={pragmas.get('journal_mode')}, "
            f"foreign_keys={pragmas.get('foreign_keys')}, "
            f"busy_timeout={pragmas.get('busy_timeout_ms')} ms: TaskFlow needs WAL, foreign "
            f"keys on and a busy timeout of at least {MIN_BUSY_TIMEOUT_MS} ms.",
            hint="Check DATABASES['default']['OPTIONS']['init_command'] in settings.",
            id="runs.E005",
        )
    ]
