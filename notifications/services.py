"""Run notifications (e-mail, webhooks) with noise control, and the SMTP settings.

`run_notify` decides synchronously (a few queries: one Notification row per channel and target,
pending or suppressed, so a second call for the same run adds nothing) and delivers in a
daemon thread after commit; `notifications_sweep` delivers pending rows a dead process left.
"""

from __future__ import annotations

import atexit
import json
import logging
import smtplib
import socket
import ssl
import threading
import time
from datetime import datetime, timedelta
from email.utils import make_msgid
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Setting
from jobs.models import Job, NotifyOn
from notifications.models import Channel, DeliveryStatus, Notification
from runs.models import Run, RunStatus
from runs.services import run_log_lines
from taskflow_site.lib import netguard

logger = logging.getLogger(__name__)

SMTP_SETTING_KEY = "smtp"
LOG_TAIL_LINES = 20
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF_SECONDS = 2.0  # first retry after 2 s, then 4 s
WEBHOOK_TIMEOUT_SECONDS = 10.0
EXIT_GRACE_SECONDS = 5.0  # below `taskflow stop`'s 10 s before SIGKILL
SWEEP_PENDING_AFTER = timedelta(seconds=60)
SWEEP_SENDING_STALE_AFTER = timedelta(minutes=15)

SUCCESS, FAILURE, CANCELLED = "success", "failure", "cancelled"
_OUTCOMES = {
    RunStatus.SUCCESS: SUCCESS,
    RunStatus.FAILURE: FAILURE,
    RunStatus.TIMEOUT: FAILURE,  # a timeout is a failure for notify_on purposes
    RunStatus.CANCELLED: CANCELLED,
}


class HeaderInjection(ValueError):
    """A line break in a subject or address: refused rather than sent."""


class SmtpError(RuntimeError):
    """The SMTP conversation failed; the message is safe to show (password scrubbed)."""


class SmtpSettingsError(ValueError):
    """Field-level validation errors for smtp_settings_update (`errors`: field -> messages)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in errors.items()))
        self.errors = errors


# ---------------------------------------------------------------------------------------------
# Deciding


def run_outcome(run: Run) -> str | None:
    """success | failure (failure and timeout) | cancelled; None for anything not final or
    skipped (a skipped run never ran, so it is never announced)."""
    return _OUTCOMES.get(run.status)


def _previous_outcome(run: Run) -> str | None:
    """The outcome of the job's last finished run before this one, other attempts of this
    run's own retry chain aside (they are not a previous state, they are this one)."""
    chain = run.parent_id or run.id
    previous = (
        Run.objects.filter(
            job_id=run.job_id,
            status__in=[RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.TIMEOUT],
            finished_at__isnull=False,
        )
        .exclude(pk=chain)
        .exclude(parent_id=chain)
    )
    if run.finished_at:
        previous = previous.filter(finished_at__lte=run.finished_at)
    last = previous.order_by("-finished_at").values_list("status", flat=True).first()
    return _OUTCOMES.get(last) if last else None


def notify_decision(*, job: Job, run: Run) -> tuple[bool, str]:
    """(wanted, why-not). Rules, per job.notify_on:

    - always: every final outcome, including cancelled; failure: failure and timeout;
      success: success; never: nothing. Skipped runs never notify.
    - notify_on_change_only: only when the outcome differs from the job's previous finished
      run (no history counts as success, so a first failure is news and a first success is
      not). Cancelled runs are not a state change. With notify_on=failure the recovery
      (success after failure) is sent too: whoever was told it broke is told it is fixed.
    Returns wanted=False with a reason when change-only filtered it (recorded as suppressed),
    and ("", False) when the job simply does not subscribe to this outcome.
    """
    outcome = run_outcome(run)
    if outcome is None or job.notify_on == NotifyOn.NEVER:
        return False, ""
    if not job.notify_on_change_only:
        wanted = job.notify_on == NotifyOn.ALWAYS or job.notify_on == outcome
        return wanted, ""
    if outcome == CANCELLED:
        return False, ""
    previous = _previous_outcome(run) or SUCCESS
    changed = previous != outcome
    recovery = outcome == SUCCESS and previous == FAILURE
    subscribed = (
        job.notify_on == NotifyOn.ALWAYS
        or job.notify_on == outcome
        or (job.notify_on == NotifyOn.FAILURE and recovery)
    )
    if not subscribed:
        return False, ""
    if not changed:
        return False, f"no state change (still {outcome})"
    return True, ""


def notification_targets(job: Job) -> list[tuple[str, str]]:
    """(channel, target) pairs, duplicates dropped (one row per target is the invariant)."""
    targets = [(Channel.EMAIL, address) for address in job.notify_email_list]
    urls = job.webhook_urls if isinstance(job.webhook_urls, list) else []
    targets += [(Channel.WEBHOOK, str(url).strip()) for url in urls if str(url).strip()]
    return list(dict.fromkeys((channel, target[:2000]) for channel, target in targets))


def _job_day_start(job: Job, now: datetime) -> datetime:
    """Midnight of today in the job's own time zone (the cap is per local day)."""
    try:
        zone = ZoneInfo(job.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _runs_notified_since(job: Job, since: datetime) -> int:
    return (
        Notification.objects.filter(job=job, created_at__gte=since)
        .exclude(status=DeliveryStatus.SUPPRESSED)
        .values("run_id")
        .distinct()
        .count()
    )


def notifications_plan(*, run: Run) -> list[int]:
    """Create this run's Notification rows and return the ids to deliver.

    One row per (run, channel, target) — the unique constraint makes a repeated call (a
    redelivered task, a retried hook) a no-op. Over the job's daily cap, or filtered by
    change-only, rows are stored as suppressed with the reason, so the noise is counted.
    """
    job = run.job
    if job is None:
        return []
    wanted, reason = notify_decision(job=job, run=run)
    if not wanted and not reason:
        return []
    targets = notification_targets(job)
    if not targets:
        return []
    now = timezone.now()
    with transaction.atomic():
        # Serialise the cap count per job (PostgreSQL; SQLite's IMMEDIATE already does).
        Job.objects.select_for_update().filter(pk=job.pk).first()
        if Notification.objects.filter(run=run).exists():
            return list(
                Notification.objects.filter(run=run, status=DeliveryStatus.PENDING).values_list(
                    "pk", flat=True
                )
            )
        status = DeliveryStatus.PENDING
        if not wanted:
            status = DeliveryStatus.SUPPRESSED
        elif job.notify_daily_cap:
            sent_today = _runs_notified_since(job, _job_day_start(job, now))
            if sent_today >= job.notify_daily_cap:
                status = DeliveryStatus.SUPPRESSED
                reason = f"daily cap of {job.notify_daily_cap} reached"
        rows = [
            Notification(
                run=run,
                job=job,
                channel=channel,
                target=target[:2000],
                status=status,
                reason=reason[:200],
            )
            for channel, target in targets
        ]
        try:
            with transaction.atomic():
                Notification.objects.bulk_create(rows)
        except IntegrityError:  # a concurrent call for the same run won
            return []
    return list(
        Notification.objects.filter(run=run, status=DeliveryStatus.PENDING).values_list(
            "pk", flat=True
        )
    )


def run_notify(*, run: Run) -> None:
    """Called by the engine on a run's final state. Decides now, delivers in a daemon thread
    once the caller's transaction commits; returns in milliseconds and never raises."""
    try:
        if run.job_id is None:
            return
        ids = notifications_plan(run=run)
        if ids:
            transaction.on_commit(lambda: notifications_deliver_background(ids))
    except Exception:
        logger.exception("could not plan notifications for run %s", run.pk)


def run_finished_notify(sender, *, run: Run, **kwargs) -> None:
    """runs.seams.run_finished: the engine's final state of a run."""
    run_notify(run=run)


_delivering: set[threading.Thread] = set()
_delivering_lock = threading.Lock()


def notifications_deliver_background(ids: list[int]) -> threading.Thread:
    """Deliver in a daemon thread: a slow SMTP server or webhook never holds the worker.
    A process that exits normally (e.g. `manage.py runjob`) waits up to EXIT_GRACE_SECONDS
    for these threads; what is still pending after that is left to the sweep."""

    def deliver_all() -> None:
        try:
            for notification_id in ids:
                notification_deliver(notification_id=notification_id)
        finally:
            connection.close()  # this thread's own connection
            with _delivering_lock:
                _delivering.discard(threading.current_thread())

    thread = threading.Thread(target=deliver_all, name="notify", daemon=True)
    with _delivering_lock:
        _delivering.add(thread)
    thread.start()
    return thread


def _wait_for_deliveries() -> None:
    deadline = time.monotonic() + EXIT_GRACE_SECONDS
    with _delivering_lock:
        threads = list(_delivering)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


atexit.register(_wait_for_deliveries)


def notifications_sweep(*, now: datetime | None = None) -> int:
    """Deliver pending rows nobody delivered (the process died first) and fail rows stuck in
    `sending` (a deliverer died mid-send: not retried, a mail may have gone out). Returns how
    many were found."""
    now = now or timezone.now()
    Notification.objects.filter(
        status=DeliveryStatus.SENDING, created_at__lt=now - SWEEP_SENDING_STALE_AFTER
    ).update(status=DeliveryStatus.FAILED, error="delivery interrupted (worker stopped)")
    ids = list(
        Notification.objects.filter(
            status=DeliveryStatus.PENDING, created_at__lt=now - SWEEP_PENDING_AFTER
        ).values_list("pk", flat=True)[:100]
    )
    if ids:
        notifications_deliver_background(ids)
    return len(ids)


def notifications_redeliver(*, queryset) -> int:
    """Put failed notifications back to pending and deliver them again (an operator's retry
    after fixing SMTP or a webhook receiver). Returns how many were re-queued."""
    ids = list(queryset.filter(status=DeliveryStatus.FAILED).values_list("pk", flat=True))
    requeued = Notification.objects.filter(pk__in=ids, status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.PENDING, error=""
    )
    if requeued:
        transaction.on_commit(lambda: notifications_deliver_background(ids))
    return requeued


def notification_suppressed_count(*, job: Job, before_run: Run | None = None) -> int:
    """Runs of this job whose notifications were suppressed since the last notification that
    went out (rows are compared by id: creation order, immune to clock ties)."""
    sent = Notification.objects.filter(job=job, status=DeliveryStatus.SENT)
    if before_run is not None:
        sent = sent.exclude(run=before_run)
    last_sent_id = sent.order_by("-pk").values_list("pk", flat=True).first() or 0
    suppressed = Notification.objects.filter(
        job=job, status=DeliveryStatus.SUPPRESSED, pk__gt=last_sent_id
    )
    if before_run is not None:
        suppressed = suppressed.exclude(run=before_run)
    return suppressed.values("run_id").distinct().count()


# ---------------------------------------------------------------------------------------------
# Delivering


def notification_deliver(*, notification_id: int) -> Notification | None:
    """Claim one pending notification (pending -> sending, so two deliverers never both send)
    and send it. Records sent/failed with the error; never raises."""
    claimed = Notification.objects.filter(pk=notification_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENDING, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    notification = Notification.objects.select_related("run", "job").get(pk=notification_id)
    try:
        if notification.channel == Channel.EMAIL:
            _deliver_email(notification)
        else:
            _deliver_webhook(notification)
    except Exception as exc:  # recorded on the row; a notification never fails anything else
        _finish(notification, DeliveryStatus.FAILED, error=_scrub(f"{exc}") or type(exc).__name__)
        logger.warning(
            "notification %s (%s to %s) failed: %s",
            notification.pk,
            notification.channel,
            target_display(notification),
            _scrub(str(exc)),
        )
    else:
        _finish(notification, DeliveryStatus.SENT, error="")
    notification.refresh_from_db()
    return notification


def target_display(notification: Notification) -> str:
    """A target safe for logs: webhook URLs often carry a token in the path or query."""
    if notification.channel != Channel.WEBHOOK:
        return notification.target
    parts = urlsplit(notification.target)
    return (
        f"{parts.scheme}://{parts.hostname or '?'}{':' if parts.port else ''}{parts.port or ''}/…"
    )


def _finish(notification: Notification, status: str, *, error: str) -> None:
    fields = {"status": status, "error": error[:2000]}
    if status == DeliveryStatus.SENT:
        fields["sent_at"] = timezone.now()
    Notification.objects.filter(pk=notification.pk).update(**fields)


def run_summary(run: Run) -> dict:
    """The facts every channel reports about a finished run."""
    job = run.job
    base = settings.TASKFLOW["PUBLIC_URL"].rstrip("/")
    return {
        "runId": str(run.pk),
        "jobId": str(job.pk) if job else None,
        "jobName": job.name if job else "",
        "status": run.status,
        "exitCode": run.exit_code,
        "durationMs": run.duration_ms,
        "attempt": run.attempt,
        "triggerType": run.trigger_type,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
        "cpuPercentMax": run.cpu_percent_max,
        "memoryBytesMax": run.memory_bytes_max,
        "errorMessage": run.error_message,
        "url": f"{base}/admin/runs/run/{run.pk}/change/",
    }


def _log_tail(run: Run, count: int = LOG_TAIL_LINES) -> list[str]:

    total = Run.objects.filter(pk=run.pk).values_list("log_lines", flat=True).first() or 0
    lines = run_log_lines(run=run, after=max(0, total - count), limit=count)
    return [f"[{line.stream}] {line.content}" for line in lines]


def _human_duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"


def _human_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def _check_header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjection(f"refused: line break in the {name} header (header injection)")
    return value


def email_compose(notification: Notification, *, from_email: str) -> EmailMessage:
    run, job = notification.run, notification.job
    summary = run_summary(run)
    attempts = f"{run.attempt} of {(job.retry_count if job else 0) + 1}"
    subject = _check_header(
        "Subject", f"[TaskFlow] {job.name if job else 'task'}: {run.status.upper()}"
    )
    to = _check_header("To", notification.target)
    try:
        validate_email(to)
    except ValidationError as exc:
        raise ValueError(f"invalid e-mail address {to!r}") from exc
    cpu = f"{run.cpu_percent_max:.1f} %" if run.cpu_percent_max is not None else "-"
    lines = [
        f"Job:       {job.name if job else '-'}",
        f"Status:    {run.status}",
        f"Exit code: {run.exit_code if run.exit_code is not None else '-'}",
        f"Duration:  {_human_duration(run.duration_ms)}",
        f"Attempt:   {attempts}",
        f"Trigger:   {run.trigger_type}",
        f"Started:   {summary['startedAt'] or '-'}",
        f"Finished:  {summary['finishedAt'] or '-'}",
        f"Peak CPU:  {cpu}",
        f"Peak RSS:  {_human_bytes(run.memory_bytes_max)}",
    ]
    if run.error_message:
        lines.append(f"Reason:    {run.error_message}")
    if job:
        suppressed = notification_suppressed_count(job=job, before_run=run)
        if suppressed:
            lines.append(f"Suppressed since the last notification: {suppressed} run(s)")
    lines += ["", f"Run: {summary['url']}", "", f"Last {LOG_TAIL_LINES} log lines:"]
    lines += [f"  {line}" for line in _log_tail(run)] or ["  (no output)"]
    return EmailMessage(
        subject=subject,
        body="\n".join(lines) + "\n",
        from_email=_check_header("From", from_email),
        to=[to],
        headers={"Message-ID": make_msgid(domain="taskflow")},
    )


def _deliver_email(notification: Notification) -> None:
    config = smtp_config()
    if not config["server"]:
        raise RuntimeError("SMTP is not configured (no server)")
    message = email_compose(notification, from_email=smtp_from_address(config))
    smtp_deliver(config=config, message=message)


def _deliver_webhook(notification: Notification) -> None:
    summary = run_summary(notification.run)
    icon = {"success": ":white_check_mark:", "cancelled": ":no_entry_sign:"}.get(
        summary["status"], ":x:"
    )
    payload = {
        "text": (
            f"{icon} TaskFlow job *{summary['jobName']}* {summary['status']}"
            f" (exit {summary['exitCode']}, {_human_duration(summary['durationMs'])},"
            f" attempt {summary['attempt']}) <{summary['url']}|view run>"
        ),
        "run": summary,
    }
    body = json.dumps(payload).encode()
    allowlist = account_services.allowlist_load()
    last_error = ""
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        if attempt > 1:
            Notification.objects.filter(pk=notification.pk).update(attempts=attempt)
            time.sleep(WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 2))
        try:
            response = netguard.request(
                "POST",
                notification.target,
                allowlist=allowlist,
                headers={"Content-Type": "application/json"},
                content=body,
                timeout=WEBHOOK_TIMEOUT_SECONDS,
                max_body=4096,
            )
        except netguard.Refused:
            raise  # the same target will be refused again: no retry
        except netguard.NetguardError as exc:
            last_error = str(exc)
            continue
        if response.ok:
            return
        last_error = f"HTTP {response.status_code} {response.reason}"
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            break  # the receiver rejected this payload; repeating it will not help
    raise RuntimeError(f"webhook failed after {attempt} attempt(s): {last_error}")


# ---------------------------------------------------------------------------------------------
# SMTP settings and transport


def smtp_config() -> dict:
    """Effective SMTP settings, password included (internal use only, never returned)."""
    config = {
        "server": "",
        "port": 587,
        "username": "",
        "password": "",
        "use_tls": True,
        "use_ssl": False,
        "from_email": "",
        "timeout": 10.0,
    }
    config.update({k: v for k, v in settings.SMTP_DEFAULTS.items() if k in config})
    row = Setting.objects.filter(key=SMTP_SETTING_KEY).first()
    if row and isinstance(row.value, dict):
        config.update({k: v for k, v in row.value.items() if k in config})
        if "password_encrypted" in row.value:
            config["password"] = _password_decrypt(row.value["password_encrypted"])
    return config


def _fernet():
    import base64
    import hashlib

    from cryptography.fernet import Fernet

    digest = hashlib.sha256(b"taskflow.smtp-password:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _password_encrypt(password: str) -> str:
    return _fernet().encrypt(password.encode()).decode() if password else ""


def _password_decrypt(token: str) -> str:
    if not token:
        return ""
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        logger.warning("the stored SMTP password cannot be decrypted (SECRET_KEY changed?)")
        return ""


def smtp_from_address(config: dict) -> str:
    if config.get("from_email"):
        return config["from_email"]
    if "@" in (config.get("username") or ""):
        return config["username"]
    return f"taskflow@{socket.getfqdn() or 'localhost'}"


def smtp_settings_get() -> dict:
    """Effective SMTP settings for display: the password is never returned, only whether one
    is set. `source` says whether an admin saved settings or env defaults apply."""
    config = smtp_config()
    stored = Setting.objects.filter(key=SMTP_SETTING_KEY).exists()
    return {
        "server": config["server"],
        "port": int(config["port"]),
        "username": config["username"],
        "use_tls": bool(config["use_tls"]),
        "use_ssl": bool(config["use_ssl"]),
        "from_email": config["from_email"],
        "timeout": float(config["timeout"]),
        "has_password": bool(config["password"]),
        "configured": bool(config["server"]),
        "source": "database" if stored else "environment",
    }


_ALIASES = {"fromEmail": "from_email", "useTls": "use_tls", "useSsl": "use_ssl"}
_SMTP_FIELDS = {
    "server",
    "port",
    "username",
    "password",
    "use_tls",
    "use_ssl",
    "from_email",
    "timeout",
    "clear_password",
}


def _valid_host(value: str) -> bool:
    try:
        netguard.allowlist_entry_validate(value)
    except ValueError:
        return False
    return "/" not in value and not value.startswith("*.")


def smtp_settings_update(*, data: dict) -> dict:
    """Validate and store SMTP settings; returns smtp_settings_get().

    Password is write-only: absent, null or "" keeps the stored one; `clear_password: true`
    removes it. Raises SmtpSettingsError with field-level messages.
    """
    data = {_ALIASES.get(key, key): value for key, value in (data or {}).items()}
    errors: dict[str, list[str]] = {}
    for key in data:
        if key not in _SMTP_FIELDS:
            errors.setdefault(key, []).append("Unknown field.")
    current = smtp_config()
    new = dict(current)

    def text(key: str, max_length: int) -> str | None:
        if key not in data or data[key] is None:
            return None
        value = data[key]
        if not isinstance(value, str):
            errors.setdefault(key, []).append("Must be a string.")
            return None
        if "\r" in value or "\n" in value:
            errors.setdefault(key, []).append("Line breaks are not allowed.")
            return None
        if len(value) > max_length:
            errors.setdefault(key, []).append(f"At most {max_length} characters.")
            return None
        return value.strip() if key != "password" else value

    server = text("server", 253)
    if server is not None:
        if server and not _valid_host(server):
            errors.setdefault("server", []).append("Enter a host name or IP address.")
        new["server"] = server
    if "port" in data:
        port = data["port"]
        if isinstance(port, str) and port.strip().isdigit():
            port = int(port)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            errors.setdefault("port", []).append("Enter a port between 1 and 65535.")
        else:
            new["port"] = port
    username = text("username", 254)
    if username is not None:
        new["username"] = username
    from_email = text("from_email", 254)
    if from_email is not None:
        if from_email:
            try:
                validate_email(from_email)
            except ValidationError:
                errors.setdefault("from_email", []).append("Enter a valid e-mail address.")
        new["from_email"] = from_email
    password = text("password", 1000)
    if password:
        new["password"] = password
    if data.get("clear_password") is True:
        new["password"] = ""
    for key in ("use_tls", "use_ssl"):
        if key in data:
            if not isinstance(data[key], bool):
                errors.setdefault(key, []).append("Must be true or false.")
            else:
                new[key] = data[key]
    if new["use_tls"] and new["use_ssl"]:
        errors.setdefault("use_ssl", []).append(
            "Choose STARTTLS (use_tls) or implicit TLS (use_ssl), not both."
        )
    if "timeout" in data:
        timeout = data["timeout"]
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not (1 <= timeout <= 120)
        ):
            errors.setdefault("timeout", []).append("Enter a number of seconds from 1 to 120.")
        else:
            new["timeout"] = float(timeout)
    if errors:
        raise SmtpSettingsError(errors)
    # Encrypted at rest: the row is visible in the generic settings admin, dumps and backups.
    stored = {k: v for k, v in new.items() if k != "password"}
    stored["password_encrypted"] = _password_encrypt(new["password"])
    Setting.objects.update_or_create(key=SMTP_SETTING_KEY, defaults={"value": stored})
    return smtp_settings_get()


def _scrub(text: str, config: dict | None = None) -> str:
    """Remove the SMTP password from any text bound for logs, rows or API output."""
    try:
        password = (config or smtp_config()).get("password") or ""
    except Exception:
        password = ""
    return text.replace(password, "***") if password else text


def smtp_deliver(*, config: dict, message: EmailMessage) -> str:
    """Send one message; returns the server's reply to DATA (e.g. "250 2.0.0 Ok: queued").

    Every socket operation is bounded by config["timeout"], so a hung server fails fast.
    Raises HeaderInjection, smtplib/OS errors (messages scrubbed of the password).
    """
    try:
        mime = message.message()
    except BadHeaderError as exc:
        raise HeaderInjection(f"refused: {exc}") from exc
    recipients = message.recipients()
    for address in [message.from_email, *recipients]:
        _check_header("address", address)
    timeout = float(config.get("timeout") or 10)
    smtp_class = smtplib.SMTP_SSL if config.get("use_ssl") else smtplib.SMTP
    kwargs = {"context": ssl.create_default_context()} if config.get("use_ssl") else {}
    try:
        with smtp_class(config["server"], int(config["port"]), timeout=timeout, **kwargs) as smtp:
            smtp.ehlo()
            if config.get("use_tls") and not config.get("use_ssl"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if config.get("username") and config.get("password"):
                smtp.login(config["username"], config["password"])
            code, reply = smtp.mail(message.from_email)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, message.from_email)
            for address in recipients:
                code, reply = smtp.rcpt(address)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({address: (code, reply)})
            code, reply = smtp.data(mime.as_bytes(linesep="\r\n"))
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
    except TimeoutError as exc:
        raise SmtpError(
            f"timeout: SMTP server {config['server']}:{config['port']} did not answer within "
            f"{timeout:g} s"
        ) from exc
    except smtplib.SMTPServerDisconnected as exc:
        if "timed out" not in str(exc):  # smtplib reports a read timeout as a disconnect
            raise SmtpError(_scrub(_smtp_error_text(exc), config)) from None
        raise SmtpError(
            f"timeout: SMTP server {config['server']}:{config['port']} did not answer within "
            f"{timeout:g} s"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpError(_scrub(_smtp_error_text(exc), config)) from None
    return f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"


def _smtp_error_text(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return f"SMTP {exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{address} refused: {code} {reply.decode(errors='replace')}"
            for address, (code, reply) in exc.recipients.items()
        )
    return f"{type(exc).__name__}: {exc}"


def smtp_send_test(*, to: str) -> dict:
    """Send a real test mail with the effective settings. Returns {"ok": bool, "message": the
    SMTP server's answer or the error}; never raises, never includes the password."""
    config = smtp_config()
    to = (to or "").strip()
    try:
        _check_header("To", to)
        validate_email(to)
    except (HeaderInjection, ValidationError):
        return {"ok": False, "message": f"invalid recipient address {to!r}"}
    if not config["server"]:
        return {"ok": False, "message": "SMTP is not configured (no server)"}
    message = EmailMessage(
        subject="[TaskFlow] Test e-mail",
        body=(
            "This is a test e-mail from TaskFlow.\n\n"
            f"Server: {config['server']}:{config['port']}\n"
            f"Sent at: {timezone.now().isoformat()}\n"
        ),
        from_email=smtp_from_address(config),
        to=[to],
    )
    try:
        answer = smtp_deliver(config=config, message=message)
    except Exception as exc:
        text = _scrub(str(exc) or type(exc).__name__, config)
        logger.warning("SMTP test mail to %s failed: %s", to, text)
        return {"ok": False, "message": text}
    return {"ok": True, "message": answer}
