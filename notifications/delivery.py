"""The one delivery path: a pending Notification row is claimed, sent by its channel (an e-mail
over SMTP or a webhook POST) and marked sent or failed.

Deliveries run in daemon threads so a slow SMTP server or webhook never holds the worker;
`notifications_sweep` delivers the pending rows a dead process left and fails the ones it
left half-sent.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from notifications.mail import email_compose
from notifications.models import Channel, DeliveryStatus, Notification
from notifications.smtp import smtp_config, smtp_deliver, smtp_from_address, smtp_password_scrub
from notifications.webhooks import webhook_send

logger = logging.getLogger(__name__)

EXIT_GRACE_SECONDS = 5.0  # below `taskflow stop`'s 10 s before SIGKILL
SWEEP_PENDING_AFTER = timedelta(seconds=60)
SWEEP_SENDING_STALE_AFTER = timedelta(minutes=15)

_delivering: set[threading.Thread] = set()
_delivering_lock = threading.Lock()


def notifications_deliver_background(ids: list[int]) -> threading.Thread:
    """Deliver in a daemon thread. A process that exits normally (e.g. `manage.py runjob`)
    waits up to EXIT_GRACE_SECONDS for these threads; what is still pending after that is left
    to the sweep."""

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
            _email_send(notification)
        else:
            webhook_send(notification=notification)
    except Exception as exc:  # recorded on the row; a notification never fails anything else
        error = smtp_password_scrub(f"{exc}") or type(exc).__name__
        _finish(notification, DeliveryStatus.FAILED, error=error)
        logger.warning(
            "notification %s (%s to %s) failed: %s",
            notification.pk,
            notification.channel,
            target_display(notification),
            smtp_password_scrub(str(exc)),
        )
    else:
        _finish(notification, DeliveryStatus.SENT, error="")
    notification.refresh_from_db()
    return notification


def _email_send(notification: Notification) -> None:
    config = smtp_config()
    if not config["server"]:
        raise RuntimeError("SMTP is not configured (no server)")
    message = email_compose(notification, from_email=smtp_from_address(config))
    smtp_deliver(config=config, message=message)


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
