"""Webhooks: the run summary as JSON with a Slack-compatible `text`, POSTed through the SSRF
guard with the HTTP allowlist, retried with backoff, and signed as GitHub and Stripe sign theirs:
`X-TaskFlow-Timestamp` (Unix seconds) and `X-TaskFlow-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<raw body>">` with the job's secret, so a receiver can check the origin and refuse
replays (docs/governance.md shows the receiver's side)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from accounts.services import allowlist_load
from jobs.webhook_secrets import job_webhook_secret
from notifications.mail import run_summary
from notifications.models import Notification
from taskflow_site.lib import netguard
from taskflow_site.lib.formatting import duration_text

WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF_SECONDS = 2.0  # first retry after 2 s, then 4 s
WEBHOOK_TIMEOUT_SECONDS = 10.0
TIMESTAMP_HEADER = "X-TaskFlow-Timestamp"
SIGNATURE_HEADER = "X-TaskFlow-Signature"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def webhook_headers(*, secret: str, body: bytes) -> dict[str, str]:
    """The headers of one attempt: each retry is signed afresh with its own timestamp."""
    headers = {"Content-Type": "application/json"}
    if secret:
        timestamp = int(time.time())
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    return headers


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
    secret = job_webhook_secret(job=notification.job) if notification.job is not None else ""
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
                headers=webhook_headers(secret=secret, body=body),
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
