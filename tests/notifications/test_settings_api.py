"""The SMTP endpoints (H4's views over our services): admin only, password never returned."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db
PASSWORD = "api-secret-Pa55"


def test_the_smtp_endpoints_never_return_the_password(admin_api):
    put = admin_api.put(
        "/api/settings/smtp",
        {"server": "mail.example.com", "port": 2525, "password": PASSWORD, "use_tls": False},
        format="json",
    )
    assert put.status_code == 200, put.content
    got = admin_api.get("/api/settings/smtp")
    assert got.status_code == 200
    assert got.json()["data"]["server"] == "mail.example.com"
    assert got.json()["data"]["hasPassword"] is True
    assert PASSWORD not in put.content.decode() + got.content.decode()


def test_the_smtp_endpoints_reject_bad_values(admin_api):
    response = admin_api.put("/api/settings/smtp", {"port": 0}, format="json")
    assert response.status_code == 400
    assert "port" in str(response.json())


def test_the_smtp_endpoints_are_admin_only(owner_api):
    assert owner_api.get("/api/settings/smtp").status_code == 403
    assert owner_api.post("/api/settings/smtp/test", {"to": "a@example.com"}).status_code == 403


def test_the_test_mail_endpoint_reports_the_server_answer(admin_api, smtp_configured):
    response = admin_api.post("/api/settings/smtp/test", {"to": "me@example.com"}, format="json")
    assert response.status_code == 200
    assert response.json()["data"] == {
        "ok": True,
        "message": "250 2.0.0 Ok: queued as TESTQUEUE1",
    }
