"""Tell live viewers that a run changed (new log lines, a sample, a status).

The database is the truth: WebSocket consumers replay and follow by line number from it, so
with no Redis this has nothing to do (daphne and the worker are separate processes and
Channels' in-memory layer cannot cross them). With REDIS_URL set, a nudge goes to the run's
group and to the dashboard group at once, so followers read the new rows without waiting.
"""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def run_group(run_id) -> str:
    return f"run-{run_id}"


DASHBOARD_GROUP = "dashboard"


def notify_run_changed(run_id, *, kind: str = "log") -> None:
    """kind: "log" | "metric" | "status". Never raises: live push is best-effort."""
    if not settings.CONFIG.redis_url:
        return
    try:
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        message = {"type": "run.changed", "run_id": str(run_id), "kind": kind}
        async_to_sync(layer.group_send)(run_group(run_id), message)
        if kind == "status":
            async_to_sync(layer.group_send)(DASHBOARD_GROUP, message)
    except Exception:  # a Redis hiccup must never fail a run
        logger.warning("live push for run %s failed", run_id, exc_info=True)
