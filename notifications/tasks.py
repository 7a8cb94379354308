"""django-q2 entry points: take ids, call one service."""

from __future__ import annotations

from notifications import delivery, policy
from runs.models import Run


def notification_deliver(notification_id: int) -> None:
    delivery.notification_deliver(notification_id=notification_id)


def run_notify(run_id) -> None:
    """Plan and deliver a run's notifications inside a worker, synchronously."""
    run = Run.objects.select_related("job").filter(pk=run_id).first()
    if run is None:
        return
    for notification_id in policy.notifications_plan(run=run):
        delivery.notification_deliver(notification_id=notification_id)


def notifications_sweep() -> int:
    return delivery.notifications_sweep()
