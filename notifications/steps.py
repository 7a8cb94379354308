"""Cluster-loop step: deliver notifications a dead process left pending (see services)."""

from __future__ import annotations

from notifications.services import notifications_sweep
from taskflow_site.lib.steps import Step

SWEEP_SECONDS = 30.0


def notification_steps(sender=None, **kwargs) -> list[Step]:
    return [Step("notifications", lambda now: notifications_sweep() > 0, interval=SWEEP_SECONDS)]
