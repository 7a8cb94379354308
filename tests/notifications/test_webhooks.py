"""Webhooks: a JSON run summary with a Slack-compatible `text`, same triggers as e-mail,
retried with backoff, and the same SSRF rules as HTTP jobs."""

from __future__ import annotations

import json

import pytest

from jobs.models import NotifyOn
from notifications import webhooks
from notifications.delivery import notification_deliver
from notifications.models import Channel, DeliveryStatus, Notification
from notifications.policy import notifications_plan
from runs.models import RunStatus
from tests.http.servers import Reply
from tests.notifications.conftest import finished_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(webhooks, "WEBHOOK_BACKOFF_SECONDS", 0.05)


@pytest.fixture
def hook_job(mail_job, local_server):
    mail_job.notify_emails = ""
    mail_job.webhook_urls = [local_server.url("/hook")]
    mail_job.save()
    return mail_job


def deliver(run) -> list[Notification]:
    return [notification_deliver(notification_id=pk) for pk in notifications_plan(run=run)]


def test_it_posts_a_json_summary_with_slack_text(local_server, allow_loopback, hook_job):
    local_server.routes["/hook"] = Reply(200, b"ok")
    run = finished_run(hook_job, RunStatus.FAILURE, exit_code=2)

    [notification] = deliver(run)

    assert notification.channel == Channel.WEBHOOK
    assert notification.status == DeliveryStatus.SENT
    [request] = local_server.requests
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    payload = json.loads(request.body)
    assert "nightly-backup" in payload["text"]
    assert "failure" in payload["text"]
    assert payload["run"]["runId"] == str(run.pk)
    assert payload["run"]["exitCode"] == 2
    assert payload["run"]["url"].endswith(f"/admin/runs/run/{run.pk}/change/")


def test_it_uses_the_same_triggers_as_email(local_server, allow_loopback, hook_job):
    hook_job.notify_on = NotifyOn.FAILURE
    hook_job.save()
    local_server.routes["/hook"] = Reply(200)
    assert deliver(finished_run(hook_job, RunStatus.SUCCESS)) == []
    assert local_server.requests == []


def test_it_retries_a_failing_receiver_with_backoff(
    local_server, allow_loopback, hook_job, fast_backoff
):
    local_server.routes["/hook"] = lambda hits: Reply(503) if hits < 3 else Reply(200)
    [notification] = deliver(finished_run(hook_job, RunStatus.FAILURE))
    assert notification.status == DeliveryStatus.SENT
    assert notification.attempts == 3
    assert len(local_server.requests) == 3


def test_it_gives_up_after_the_last_attempt(local_server, allow_loopback, hook_job, fast_backoff):
    local_server.routes["/hook"] = Reply(500)
    [notification] = deliver(finished_run(hook_job, RunStatus.FAILURE))
    assert notification.status == DeliveryStatus.FAILED
    assert "HTTP 500" in notification.error
    assert len(local_server.requests) == webhooks.WEBHOOK_ATTEMPTS


def test_it_does_not_retry_a_rejected_payload(local_server, allow_loopback, hook_job, fast_backoff):
    local_server.routes["/hook"] = Reply(400)
    [notification] = deliver(finished_run(hook_job, RunStatus.FAILURE))
    assert notification.status == DeliveryStatus.FAILED
    assert len(local_server.requests) == 1


def test_it_refuses_a_private_webhook_target_without_trying(local_server, hook_job):
    local_server.routes["/hook"] = Reply(200)
    [notification] = deliver(finished_run(hook_job, RunStatus.FAILURE))
    assert notification.status == DeliveryStatus.FAILED
    assert "loopback" in notification.error
    assert local_server.requests == []


def test_it_refuses_a_metadata_address(hook_job):
    hook_job.webhook_urls = ["http://169.254.169.254/latest/meta-data/"]
    hook_job.save()
    [notification] = deliver(finished_run(hook_job, RunStatus.FAILURE))
    assert notification.status == DeliveryStatus.FAILED
    assert "link-local" in notification.error


def test_it_keeps_the_webhook_token_out_of_the_logs(hook_job, caplog):
    hook_job.webhook_urls = ["http://10.9.9.9/services/T000/B000/SECRETTOKEN"]
    hook_job.save()
    caplog.set_level("DEBUG")
    [notification] = deliver(finished_run(hook_job, RunStatus.FAILURE))
    assert notification.status == DeliveryStatus.FAILED
    assert "http://10.9.9.9/" in caplog.text
    assert "SECRETTOKEN" not in caplog.text
