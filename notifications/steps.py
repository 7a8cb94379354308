"""Cluster-loop step: deliver the notifications a dead process left pending
(notifications.delivery)."""

from __future__ import annotations

from notifications.delivery import notifications_sweep
from taskflow_site.lib.steps import Step

SWEEP_SECONDS = 30.0


def notification_steps(sender=None, **kwargs) -> list[Step]:
    return [Step("notifications", lambda now: notifications_sweep() > 0, interval=SWEEP_SECONDS)]
