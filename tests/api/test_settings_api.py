"""Admin-only settings: SMTP (password write-only, never returned), test mail, time zones."""

import socket

import pytest
from aiosmtpd.controller import Controller

pytestmark = pytest.mark.django_db

SMTP_KEYS = {"server", "port", "username", "use_tls", "use_ssl", "from_email", "timeout"}


def test_users_never_see_smtp_or_system_settings(owner_api):
    for method, url in [
        ("get", "/api/settings/smtp"),
        ("put", "/api/settings/smtp"),
        ("post", "/api/settings/smtp/test"),
        ("get", "/api/settings/timezone"),
    ]:
        response = getattr(owner_api, method)(url, {}, format="json")
        assert response.status_code == 403, url
        assert response.json()["code"] == "UNAUTHORIZED"


def test_smtp_settings_have_the_documented_keys_and_never_the_password(admin_api):
    response = admin_api.put(
        "/api/settings/smtp",
        {
            "server": "smtp.example.com",
            "port": 2525,
            "username": "mailer",
            "password": "hunter2-secret",
            "use_tls": True,
            "from_email": "taskflow@example.com",
        },
        format="json",
    )
    assert response.status_code == 200
    assert "hunter2-secret" not in response.content.decode()
    data = admin_api.get("/api/settings/smtp").json()["data"]
    assert set(data) >= SMTP_KEYS
    assert "password" not in data
    assert data["hasPassword"] is True
    assert (data["server"], data["port"], data["username"]) == ("smtp.example.com", 2525, "mailer")
    # an update without a password keeps it
    admin_api.put("/api/settings/smtp", {"port": 587}, format="json")
    assert admin_api.get("/api/settings/smtp").json()["data"]["hasPassword"] is True
    admin_api.put("/api/settings/smtp", {"clear_password": True}, format="json")
    assert admin_api.get("/api/settings/smtp").json()["data"]["hasPassword"] is False


def test_bad_smtp_settings_are_field_errors(admin_api):
    response = admin_api.put(
        "/api/settings/smtp",
        {"port": 70000, "from_email": "nope", "server": "bad host\r\nRCPT"},
        format="json",
    )
    assert response.status_code == 400
    assert {"port", "from_email", "server"} <= set(response.json()["details"])


def test_the_test_mail_recipient_is_validated(admin_api):
    for to in ("", "not-an-address", "a@example.com\r\nBcc: x@example.com"):
        response = admin_api.post("/api/settings/smtp/test", {"to": to}, format="json")
        assert response.status_code == 400, to
        assert "to" in response.json()["details"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted"


def test_a_test_mail_reaches_a_real_smtp_server(admin_api):
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        admin_api.put(
            "/api/settings/smtp",
            {"server": "127.0.0.1", "port": port, "use_tls": False, "username": ""},
            format="json",
        )
        response = admin_api.post(
            "/api/settings/smtp/test", {"to": "ops@example.com"}, format="json"
        )
    finally:
        controller.stop()
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["ok"] is True, data
    assert [message.rcpt_tos for message in inbox.messages] == [["ops@example.com"]]


def test_a_failing_smtp_server_is_reported_not_raised(admin_api):
    admin_api.put(
        "/api/settings/smtp",
        {"server": "127.0.0.1", "port": _free_port(), "use_tls": False},
        format="json",
    )
    response = admin_api.post("/api/settings/smtp/test", {"to": "ops@example.com"}, format="json")
    assert response.status_code == 200
    assert response.json()["data"]["ok"] is False


def test_the_server_timezone_has_name_offset_and_iana(admin_api):
    data = admin_api.get("/api/settings/timezone").json()["data"]
    assert set(data) == {"name", "offset", "iana"}
    assert isinstance(data["offset"], int)


def test_every_user_can_list_time_zones(owner_api):
    data = owner_api.get("/api/timezones").json()["data"]
    assert "Europe/Berlin" in data["timezones"]
    assert data["total"] == len(data["timezones"])
