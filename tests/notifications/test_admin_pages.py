"""Admin: SMTP settings page (admin role only, password write-only, test mail) and the
read-only notification log scoped per user."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Setting
from notifications.models import DeliveryStatus, Notification
from notifications.smtp import smtp_config, smtp_settings_get, smtp_settings_update
from runs.models import RunStatus
from tests.factories import JobFactory
from tests.notifications.conftest import finished_run

pytestmark = pytest.mark.django_db
SMTP_URL = reverse("admin:notifications_smtpsettings_changelist")
LOG_URL = reverse("admin:notifications_notification_changelist")
PASSWORD = "hunter2-very-secret"


def test_it_shows_settings_without_the_password(client, admin_user):
    smtp_settings_update(data={"server": "mail.example.com", "password": PASSWORD})
    client.force_login(admin_user)
    page = client.get(SMTP_URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "mail.example.com" in html
    assert "Password: <strong>set</strong>" in html
    assert PASSWORD not in html


def test_it_refuses_the_settings_page_to_users(client, owner):
    client.force_login(owner)
    assert client.get(SMTP_URL).status_code == 403


def test_it_saves_settings_and_keeps_the_password_when_left_empty(client, admin_user):
    smtp_settings_update(data={"server": "old.example.com", "password": PASSWORD})
    client.force_login(admin_user)
    response = client.post(
        SMTP_URL,
        {
            "action": "save",
            "server": "new.example.com",
            "port": "2525",
            "password": "",
            "from_email": "tf@example.com",
            "timeout": "5",
        },
    )
    assert response.status_code == 302
    current = smtp_settings_get()
    assert (current["server"], current["port"], current["has_password"]) == (
        "new.example.com",
        2525,
        True,
    )
    assert smtp_config()["password"] == PASSWORD


def test_it_shows_field_errors(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        SMTP_URL, {"action": "save", "server": "bad host!", "port": "25", "timeout": "5"}
    )
    assert response.status_code == 200
    assert "Enter a host name or IP address." in response.content.decode()


def test_it_sends_a_test_mail_and_shows_the_answer(client, admin_user, smtp_configured):
    client.force_login(admin_user)
    response = client.post(SMTP_URL, {"action": "test", "to": "me@example.com"}, follow=True)
    assert "250 2.0.0 Ok: queued as TESTQUEUE1" in response.content.decode()
    assert smtp_configured.recipients == [["me@example.com"]]


def test_it_saves_the_http_allowlist(client, admin_user):
    client.force_login(admin_user)
    client.post(SMTP_URL, {"action": "allowlist", "entries": "10.0.0.0/8\nci.internal\n"})
    assert Setting.objects.get(key="http_allowlist").value == {
        "entries": ["10.0.0.0/8", "ci.internal"]
    }


def test_the_notification_log_is_scoped_to_the_users_jobs(client, owner, outsider, admin_user):
    mine = finished_run(JobFactory(created_by=owner, name="mine"), RunStatus.FAILURE)
    theirs = finished_run(JobFactory(created_by=outsider, name="theirs"), RunStatus.FAILURE)
    for run in (mine, theirs):
        Notification.objects.create(
            run=run,
            job=run.job,
            channel="email",
            target=f"{run.job.name}@example.com",
            status=DeliveryStatus.SENT,
        )
    client.force_login(owner)
    html = client.get(LOG_URL).content.decode()
    assert "mine@example.com" in html
    assert "theirs@example.com" not in html
    client.force_login(admin_user)
    html = client.get(LOG_URL + "?status__exact=sent&channel__exact=email").content.decode()
    assert "mine@example.com" in html and "theirs@example.com" in html


@pytest.mark.django_db(transaction=True)
def test_an_admin_can_redeliver_failed_notifications(client, admin_user, mail_job):
    from notifications.delivery import notification_deliver
    from notifications.policy import notifications_plan
    from tests.support.processes import free_port

    smtp_settings_update(data={"server": "127.0.0.1", "port": free_port(), "use_tls": False})
    run = finished_run(mail_job, RunStatus.FAILURE)
    for pk in notifications_plan(run=run):
        notification_deliver(notification_id=pk)
    assert set(Notification.objects.values_list("status", flat=True)) == {DeliveryStatus.FAILED}

    from tests.notifications.conftest import SmtpServer
    from tests.support.processes import wait_for

    server = SmtpServer()
    try:
        smtp_settings_update(data={"port": server.port})
        client.force_login(admin_user)
        ids = list(Notification.objects.values_list("pk", flat=True))
        client.post(LOG_URL, {"action": "redeliver", "_selected_action": ids})
        wait_for(lambda: len(server.messages) == 2)
    finally:
        server.controller.stop()
    wait_for(
        lambda: set(Notification.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    )
