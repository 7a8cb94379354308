"""SMTP settings: env defaults overlaid by the settings table, validated, password write-only
and never shown, in output or logs; the test mail reports the server's answer."""

from __future__ import annotations

import logging

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from accounts.models import Setting
from jobs.models import NotifyOn
from notifications.delivery import notification_deliver
from notifications.models import Notification
from notifications.policy import notifications_plan
from notifications.smtp import (
    SmtpSettingsError,
    smtp_config,
    smtp_send_test,
    smtp_settings_get,
    smtp_settings_update,
)
from runs.models import RunStatus
from tests.notifications.conftest import RecordingHandler, finished_run
from tests.support.processes import free_port

pytestmark = [
    pytest.mark.django_db,
    # the AUTH test server runs without TLS on loopback on purpose
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]
PASSWORD = "s3cr3t-Pa55word-xyz"


def test_it_starts_from_the_environment_defaults(settings):
    settings.SMTP_DEFAULTS = {
        **settings.SMTP_DEFAULTS,
        "server": "smtp.example.com",
        "port": 2525,
        "password": PASSWORD,
    }
    current = smtp_settings_get()
    assert current["server"] == "smtp.example.com"
    assert current["port"] == 2525
    assert current["has_password"] is True
    assert current["source"] == "environment"
    assert "password" not in current
    assert PASSWORD not in repr(current)


def test_it_stores_edits_and_keeps_the_password_write_only(db):
    saved = smtp_settings_update(
        data={
            "server": "mail.example.com",
            "port": 465,
            "use_tls": False,
            "use_ssl": True,
            "username": "robot",
            "password": PASSWORD,
            "from_email": "robot@example.com",
        }
    )
    assert saved["has_password"] is True
    assert PASSWORD not in repr(saved)
    assert saved["source"] == "database"
    again = smtp_settings_update(
        data={"port": 587, "use_ssl": False, "use_tls": True, "password": ""}
    )
    assert again["has_password"] is True  # empty keeps the stored one
    assert smtp_config()["password"] == PASSWORD
    cleared = smtp_settings_update(data={"clear_password": True})
    assert cleared["has_password"] is False


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": "abc"}, "port"),
        ({"from_email": "not-an-address"}, "from_email"),
        ({"server": "smtp://mail.example.com"}, "server"),
        ({"server": "mail example com"}, "server"),
        ({"username": "a\nb"}, "username"),
        ({"use_tls": "yes"}, "use_tls"),
        ({"use_tls": True, "use_ssl": True}, "use_ssl"),
        ({"timeout": 0}, "timeout"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_it_rejects_bad_values_with_field_errors(db, data, field):
    with pytest.raises(SmtpSettingsError) as caught:
        smtp_settings_update(data=data)
    assert field in caught.value.errors
    assert not Setting.objects.filter(key="smtp").exists()


def test_it_sends_a_real_test_mail_and_returns_the_server_answer(smtp_configured):
    result = smtp_send_test(to="admin@example.com")
    assert result == {"ok": True, "message": "250 2.0.0 Ok: queued as TESTQUEUE1"}
    assert smtp_configured.recipients == [["admin@example.com"]]
    assert "Subject: [TaskFlow] Test e-mail" in smtp_configured.messages[0]


def test_it_reports_a_test_mail_failure_without_raising(db):
    smtp_settings_update(data={"server": "127.0.0.1", "port": free_port(), "use_tls": False})
    result = smtp_send_test(to="admin@example.com")
    assert result["ok"] is False
    assert "refused" in result["message"].lower()


class RejectingAuth:
    def __call__(self, server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False, message="535 5.7.8 Bad credentials")


class AcceptingAuth:
    def __init__(self):
        self.logins = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)


@pytest.fixture
def auth_smtp():
    """An SMTP server that demands AUTH (without TLS, on loopback only)."""
    servers = []

    def start(authenticator):
        port = free_port()
        controller = Controller(
            RecordingHandler(),
            hostname="127.0.0.1",
            port=port,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=False,
        )
        controller.start()
        servers.append(controller)
        return port

    yield start
    for controller in servers:
        controller.stop()


def test_it_logs_in_with_the_stored_password(auth_smtp):
    authenticator = AcceptingAuth()
    port = auth_smtp(authenticator)
    smtp_settings_update(
        data={
            "server": "127.0.0.1",
            "port": port,
            "use_tls": False,
            "username": "robot",
            "password": PASSWORD,
        }
    )
    assert smtp_send_test(to="admin@example.com")["ok"] is True
    assert authenticator.logins == [(b"robot", PASSWORD.encode())]


def test_the_password_never_appears_in_output_rows_or_logs(auth_smtp, mail_job, caplog):
    port = auth_smtp(RejectingAuth())
    smtp_settings_update(
        data={
            "server": "127.0.0.1",
            "port": port,
            "use_tls": False,
            "username": "robot",
            "password": PASSWORD,
        }
    )
    mail_job.notify_on = NotifyOn.ALWAYS
    mail_job.save()
    caplog.set_level(logging.DEBUG)

    result = smtp_send_test(to="admin@example.com")
    run = finished_run(mail_job, RunStatus.FAILURE)
    for pk in notifications_plan(run=run):
        notification_deliver(notification_id=pk)

    assert result["ok"] is False
    assert "535" in result["message"]
    errors = list(Notification.objects.values_list("error", flat=True))
    assert errors and all("535" in error for error in errors)
    everything = repr(result) + repr(errors) + caplog.text + repr(smtp_settings_get())
    assert PASSWORD not in everything


def test_it_stores_the_password_encrypted(db, settings):
    smtp_settings_update(data={"server": "mail.example.com", "password": PASSWORD})
    stored = Setting.objects.get(key="smtp").value
    assert PASSWORD not in repr(stored)
    assert "password" not in stored
    assert smtp_config()["password"] == PASSWORD
    settings.SECRET_KEY = "another-secret-key-after-a-rotation-0123456789"
    assert smtp_config()["password"] == ""  # unreadable, never garbage
    assert smtp_settings_get()["has_password"] is False


def test_a_stored_row_without_a_password_overrides_the_environment(db, settings):
    settings.SMTP_DEFAULTS = {**settings.SMTP_DEFAULTS, "password": "from-env"}
    smtp_settings_update(data={"server": "mail.example.com", "clear_password": True})
    assert smtp_config()["password"] == ""
