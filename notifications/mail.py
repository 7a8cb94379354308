"""What a run notification says: the run summary every channel reports, and the e-mail built
from it (header injection refused, not sent)."""

from __future__ import annotations

from email.utils import make_msgid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email

from notifications.models import Notification
from runs.models import Run
from runs.services import run_log_lines
from taskflow_site.lib.formatting import bytes_text, duration_text, iso

LOG_TAIL_LINES = 20


class HeaderInjection(ValueError):
    """A line break in a subject or address: refused rather than sent."""


def header_check(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjection(f"refused: line break in the {name} header (header injection)")
    return value


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
        "startedAt": iso(run.started_at),
        "finishedAt": iso(run.finished_at),
        "cpuPercentMax": run.cpu_percent_max,
        "cpuSeconds": run.cpu_seconds,
        "memoryBytesMax": run.memory_bytes_max,
        "errorMessage": run.error_message,
        "url": f"{base}/admin/runs/run/{run.pk}/change/",
    }


def _log_tail(run: Run, count: int = LOG_TAIL_LINES) -> list[str]:
    total = Run.objects.filter(pk=run.pk).values_list("log_lines", flat=True).first() or 0
    lines = run_log_lines(run=run, after=max(0, total - count), limit=count)
    return [f"[{line.stream}] {line.content}" for line in lines]


def email_compose(notification: Notification, *, from_email: str) -> EmailMessage:
    run, job = notification.run, notification.job
    summary = run_summary(run)
    attempts = f"{run.attempt} of {(job.retry_count if job else 0) + 1}"
    subject = header_check(
        "Subject", f"[TaskFlow] {job.name if job else 'task'}: {run.status.upper()}"
    )
    to = header_check("To", notification.target)
    try:
        validate_email(to)
    except ValidationError as exc:
        raise ValueError(f"invalid e-mail address {to!r}") from exc
    cpu = f"{run.cpu_percent_max:.1f} %" if run.cpu_percent_max is not None else "-"
    cpu_time = f"{run.cpu_seconds:.2f} s" if run.cpu_seconds is not None else "-"
    lines = [
        f"Job:       {job.name if job else '-'}",
        f"Status:    {run.status}",
        f"Exit code: {run.exit_code if run.exit_code is not None else '-'}",
        f"Duration:  {duration_text(summary['durationMs'])}",
        f"Attempt:   {attempts}",
        f"Trigger:   {run.trigger_type}",
        f"Started:   {summary['startedAt'] or '-'}",
        f"Finished:  {summary['finishedAt'] or '-'}",
        f"CPU time:  {cpu_time}",
        f"Peak CPU:  {cpu}",
        f"Peak RSS:  {bytes_text(summary['memoryBytesMax'])}",
    ]
    if run.error_message:
        lines.append(f"Reason:    {run.error_message}")
    if job:
        suppressed = Notification.objects.suppressed_run_count(job=job, before_run=run)
        if suppressed:
            lines.append(f"Suppressed since the last notification: {suppressed} run(s)")
    lines += ["", f"Run: {summary['url']}", "", f"Last {LOG_TAIL_LINES} log lines:"]
    lines += [f"  {line}" for line in _log_tail(run)] or ["  (no output)"]
    return EmailMessage(
        subject=subject,
        body="\n".join(lines) + "\n",
        from_email=header_check("From", from_email),
        to=[to],
        headers={"Message-ID": make_msgid(domain="taskflow")},
    )
