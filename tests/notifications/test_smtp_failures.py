"""A hung or refusing SMTP server, and header injection, never block or break anything."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from jobs.models import NotifyOn
from notifications.delivery import notification_deliver
from notifications.models import DeliveryStatus, Notification
from notifications.policy import notifications_plan, run_notify
from notifications.smtp import SmtpSettingsError, smtp_send_test, smtp_settings_update
from runs.models import RunStatus
from tests.notifications.conftest import finished_run
from tests.support.processes import free_port, wait_for

pytestmark = pytest.mark.django_db


def test_it_times_out_a_hung_smtp_server_quickly(hung_server, mail_job):
    smtp_settings_update(
        data={"server": "127.0.0.1", "port": hung_server.port, "timeout": 1, "use_tls": False}
    )
    run = finished_run(mail_job, RunStatus.FAILURE)
    started = time.monotonic()
    results = [notification_deliver(notification_id=pk) for pk in notifications_plan(run=run)]
    assert time.monotonic() - started < 5  # two recipients, 1 s each
    assert [n.status for n in results] == [DeliveryStatus.FAILED] * 2
    assert "did not answer within 1 s" in results[0].error


def test_it_reports_a_refusing_server_as_failed(mail_job):
    smtp_settings_update(data={"server": "127.0.0.1", "port": free_port(), "use_tls": False})
    run = finished_run(mail_job, RunStatus.FAILURE)
    results = [notification_deliver(notification_id=pk) for pk in notifications_plan(run=run)]
    assert {n.status for n in results} == {DeliveryStatus.FAILED}
    assert "refused" in results[0].error.lower()


def test_it_reports_a_server_without_starttls(smtp_configured, mail_job):
    smtp_settings_update(data={"use_tls": True})
    run = finished_run(mail_job, RunStatus.FAILURE)
    results = [notification_deliver(notification_id=pk) for pk in notifications_plan(run=run)]
    assert "STARTTLS" in results[0].error
    assert smtp_configured.messages == []


@pytest.mark.django_db(transaction=True)
def test_run_notify_returns_at_once_while_the_server_hangs(hung_server, mail_job):
    smtp_settings_update(
        data={"server": "127.0.0.1", "port": hung_server.port, "timeout": 1, "use_tls": False}
    )
    run = finished_run(mail_job, RunStatus.FAILURE)
    started = time.monotonic()
    run_notify(run=run)
    assert time.monotonic() - started < 0.5
    wait_for(
        lambda: Notification.objects.filter(run=run, status=DeliveryStatus.FAILED).count() == 2
    )
    assert connection.vendor  # the test's own connection is still usable


def test_it_refuses_header_injection_in_the_subject(smtp_configured, mail_job):
    mail_job.name = "backup\r\nBcc: victim@example.com"
    mail_job.save()
    run = finished_run(mail_job, RunStatus.FAILURE)
    results = [notification_deliver(notification_id=pk) for pk in notifications_plan(run=run)]
    assert {n.status for n in results} == {DeliveryStatus.FAILED}
    assert "header injection" in results[0].error
    assert smtp_configured.messages == []


def test_it_refuses_header_injection_in_an_address(smtp_configured, mail_job):
    mail_job.notify_emails = "ops@example.com\r\nBcc: victim@example.com"
    mail_job.notify_on = NotifyOn.ALWAYS
    mail_job.save()
    run = finished_run(mail_job, RunStatus.FAILURE)
    results = [notification_deliver(notification_id=pk) for pk in notifications_plan(run=run)]
    assert [n.status for n in results] == [DeliveryStatus.FAILED]
    assert "header injection" in results[0].error
    assert smtp_configured.messages == []


def test_it_refuses_header_injection_in_a_test_mail_address(smtp_configured):
    result = smtp_send_test(to="ops@example.com\nBcc: victim@example.com")
    assert result["ok"] is False
    assert "invalid recipient" in result["message"]
    assert smtp_configured.messages == []


def test_it_refuses_a_from_address_with_a_line_break(smtp_configured):
    with pytest.raises(SmtpSettingsError) as caught:
        smtp_settings_update(data={"from_email": "a@example.com\r\nBcc: b@example.com"})
    assert "from_email" in caught.value.errors
