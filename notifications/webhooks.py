"""Webhooks: the run summary as JSON with a Slack-compatible `text`, POSTed through the SSRF
guard with the HTTP allowlist, retried with backoff."""

from __future__ import annotations

import json
import time

from accounts.services import allowlist_load
from notifications.mail import run_summary
from notifications.models import Notification
from taskflow_site.lib import netguard
from taskflow_site.lib.formatting import duration_text

WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF_SECONDS = 2.0  # first retry after 2 s, then 4 s
WEBHOOK_TIMEOUT_SECONDS = 10.0


def webhook_send(*, notification: Notification) -> None:
    """POST the run summary to the notification's target; raises when it was not accepted."""
    summary = run_summary(notification.run)
    icon = {"success": ":white_check_mark:", "cancelled": ":no_entry_sign:"}.get(
        summary["status"], ":x:"
    )
    payload = {
        "text": (
            f"{icon} TaskFlow job *{summary['jobName']}* {summary['status']}"
            f" (exit {summary['exitCode']}, {duration_text(summary['durationMs'])},"
            f" attempt {summary['attempt']}) <{summary['url']}|view run>"
        ),
        "run": summary,
    }
    body = json.dumps(payload).encode()
    allowlist = allowlist_load()
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
