"""First-run setup: GET /setup/status and POST /setup/admin, exactly one admin ever."""

import pytest

from accounts.models import Role, User

pytestmark = pytest.mark.django_db


def test_it_says_setup_is_needed_on_a_fresh_database(api):
    response = api.get("/setup/status")
    assert response.status_code == 200
    assert response.json() == {"data": {"needsSetup": True}, "status": "success"}


def test_it_creates_the_first_admin_and_returns_a_token_pair(api):
    response = api.post(
        "/setup/admin",
        {"username": "root", "password": "a-long-unusual-passphrase", "email": "r@example.com"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "success"
    assert set(body["data"]) >= {"access", "refresh", "user"}
    user = User.objects.get()
    assert user.role == Role.ADMIN and user.is_superuser and user.is_staff
    assert api.get("/setup/status").json()["data"]["needsSetup"] is False


def test_a_second_setup_is_a_conflict_with_the_error_envelope(api):
    payload = {"username": "root", "password": "a-long-unusual-passphrase"}
    api.post("/setup/admin", payload, format="json")
    response = api.post("/setup/admin", {**payload, "username": "other"}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "error": "Setup is already complete; log in instead.",
        "code": "CONFLICT",
        "details": None,
    }
    assert User.objects.count() == 1


def test_a_weak_password_is_a_validation_error_naming_the_field(api):
    response = api.post("/setup/admin", {"username": "root", "password": "123"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert "password" in body["details"]
    assert not User.objects.exists()
