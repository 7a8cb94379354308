"""Signed webhooks: a receiver on loopback, written as docs/governance.md tells receivers to,
verifies each delivery's HMAC-SHA256 of "<timestamp>.<raw body>" and refuses replayed, stale or
altered deliveries. The job's secret is shown once (creation, rotation) and never read back."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.urls import reverse

from accounts.models import AuditEntry
from jobs.models import Job
from jobs.webhook_secrets import job_webhook_secret, job_webhook_secret_rotate
from notifications import webhooks
from notifications.delivery import notification_deliver
from notifications.models import DeliveryStatus
from notifications.policy import notifications_plan
from runs.models import RunStatus
from tests.notifications.conftest import finished_run

pytestmark = pytest.mark.django_db

TOLERANCE_SECONDS = 300


class Receiver:
    """A webhook receiver with the check of docs/governance.md: fresh timestamp, valid
    signature, never the same signature twice."""

    def __init__(self, secret: str):
        self.secret = secret
        self.clock = time.time
        self.seen: set[str] = set()
        self.accepted: list[dict] = []
        self.refused: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, reason = receiver.check(dict(self.headers), body)
                if status == 200:
                    receiver.accepted.append({"headers": dict(self.headers), "body": body})
                else:
                    receiver.refused.append(reason)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(reason.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def check(self, headers: dict, body: bytes) -> tuple[int, str]:
        stamp = headers.get("X-TaskFlow-Timestamp", "")
        signature = headers.get("X-TaskFlow-Signature", "")
        if not stamp.isdigit() or abs(self.clock() - int(stamp)) >= TOLERANCE_SECONDS:
            return 400, "stale"
        mac = hmac.new(self.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        if not hmac.compare_digest(signature, f"sha256={mac.hexdigest()}"):
            return 401, "bad signature"
        if signature in self.seen:
            return 409, "replayed"
        self.seen.add(signature)
        return 200, "ok"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def signed_job(mail_job):
    secret = job_webhook_secret_rotate(job=mail_job)
    receiver = Receiver(secret)
    mail_job.notify_emails = ""
    mail_job.webhook_urls = [receiver.url]
    mail_job.save()
    yield mail_job, receiver
    receiver.stop()


def deliver(run):
    return [notification_deliver(notification_id=pk) for pk in notifications_plan(run=run)]


def test_the_receiver_verifies_a_delivery_and_refuses_its_replay(allow_loopback, signed_job):
    job, receiver = signed_job
    [notification] = deliver(finished_run(job, RunStatus.FAILURE))
    assert notification.status == DeliveryStatus.SENT
    [delivery] = receiver.accepted
    headers = delivery["headers"]
    assert headers["X-TaskFlow-Signature"].startswith("sha256=")
    assert abs(int(headers["X-TaskFlow-Timestamp"]) - time.time()) < 60
    assert json.loads(delivery["body"])["run"]["jobName"] == "nightly-backup"

    def resend(body: bytes, **changed: str) -> httpx.Response:
        sent = {key: headers[key] for key in ("X-TaskFlow-Timestamp", "X-TaskFlow-Signature")}
        sent.update(changed)
        return httpx.post(
            receiver.url, content=body, headers={**sent, "Content-Type": "application/json"}
        )

    assert resend(delivery["body"]).status_code == 409  # the very same delivery again
    altered = delivery["body"].replace(b"failure", b"success")
    assert resend(altered).status_code == 401
    restamped = str(int(headers["X-TaskFlow-Timestamp"]) + 1)
    assert resend(delivery["body"], **{"X-TaskFlow-Timestamp": restamped}).status_code == 401

    receiver.seen.clear()  # a receiver that forgot what it saw still refuses an old one
    receiver.clock = lambda: time.time() + TOLERANCE_SECONDS + 1
    assert resend(delivery["body"]).status_code == 400
    assert receiver.refused == ["replayed", "bad signature", "bad signature", "stale"]


def test_a_retry_is_signed_afresh_with_its_own_timestamp(allow_loopback, signed_job, monkeypatch):
    job, receiver = signed_job
    monkeypatch.setattr(webhooks, "WEBHOOK_BACKOFF_SECONDS", 1.1)  # the next whole second
    stamps = []
    verify = receiver.check

    def down_once(headers, body):
        stamps.append(headers["X-TaskFlow-Timestamp"])
        return (503, "busy") if len(stamps) == 1 else verify(headers, body)

    receiver.check = down_once
    [notification] = deliver(finished_run(job, RunStatus.FAILURE))
    assert notification.status == DeliveryStatus.SENT and notification.attempts == 2
    assert len(set(stamps)) == 2


def test_a_rotated_secret_signs_from_then_on(allow_loopback, signed_job):
    job, receiver = signed_job
    new_secret = job_webhook_secret_rotate(job=job)
    assert new_secret != receiver.secret
    [refused] = deliver(finished_run(job, RunStatus.FAILURE))
    assert refused.status == DeliveryStatus.FAILED and receiver.refused == ["bad signature"]
    receiver.secret = new_secret
    [sent] = deliver(finished_run(job, RunStatus.FAILURE))
    assert sent.status == DeliveryStatus.SENT


def test_the_secret_is_returned_once_and_never_read_back(admin_api, owner_api, outsider_api):
    created = admin_api.post(
        "/api/jobs", {"name": "signed", "script": "true", "created_by": "owner"}, format="json"
    ).json()["data"]
    first = created["webhookSecret"]
    assert first and len(first) >= 32
    job_id = created["id"]
    shown = json.dumps(owner_api.get(f"/api/jobs/{job_id}").json())
    assert first not in shown and "webhookSecret" not in shown
    assert first not in Job.objects.filter(pk=job_id).values_list("webhook_secret", flat=True)[0]

    rotated = owner_api.post(f"/api/jobs/{job_id}/webhook-secret")
    assert rotated.status_code == 200
    second = rotated.json()["data"]["webhookSecret"]
    assert second != first
    assert outsider_api.post(f"/api/jobs/{job_id}/webhook-secret").status_code == 404

    chosen = owner_api.post(
        f"/api/jobs/{job_id}/webhook-secret",
        {"secret": "a-receiver-chosen-secret-0123456789"},
        format="json",
    )
    assert chosen.json()["data"]["webhookSecret"] == "a-receiver-chosen-secret-0123456789"
    short = owner_api.post(f"/api/jobs/{job_id}/webhook-secret", {"secret": "x"}, format="json")
    assert short.status_code == 400

    entries = AuditEntry.objects.filter(object_id=job_id, action="update")
    assert [e.changes for e in entries] == [{"webhook_secret": "changed"}] * 2
    assert all(first not in str(e.changes) for e in AuditEntry.objects.all())


def test_the_job_list_action_shows_new_secrets_once(owner_client, owner_job):
    url = reverse("admin:jobs_job_changelist")
    page = owner_client.post(
        url, {"action": "rotate_webhook_secrets", "_selected_action": [owner_job.pk]}
    )
    assert page.status_code == 200
    [(job, secret)] = page.context["secrets"]
    assert job == owner_job and secret in page.content.decode()
    owner_job.refresh_from_db()
    assert job_webhook_secret(job=owner_job) == secret
    assert secret not in owner_client.get(url).content.decode()
