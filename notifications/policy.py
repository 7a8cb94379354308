"""Deciding: whether a finished run is announced, to whom, and what noise control holds back.

`run_notify` (the receiver of runs.seams.run_finished) decides synchronously, in a few queries:
one Notification row per channel and target, pending or suppressed, so a second call for the
same run adds nothing. The pending rows go to notifications.delivery once the caller commits.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import Job, NotifyOn
from notifications.delivery import notifications_deliver_background
from notifications.models import Channel, DeliveryStatus, Notification
from runs.models import Run, RunStatus

logger = logging.getLogger(__name__)

SUCCESS, FAILURE, CANCELLED = "success", "failure", "cancelled"
_OUTCOMES = {
    RunStatus.SUCCESS: SUCCESS,
    RunStatus.FAILURE: FAILURE,
    RunStatus.TIMEOUT: FAILURE,  # a timeout is a failure for notify_on purposes
    RunStatus.CANCELLED: CANCELLED,
}


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
    change-only, rows are stored as suppressed with the reason, so the noise is counted
    (Notification.objects.suppressed_run_count, reported in the next e-mail).
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
    """Called on a run's final state. Decides now, delivers in a daemon thread once the
    caller's transaction commits; returns in milliseconds and never raises."""
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
