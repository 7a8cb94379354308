"""Login, me, refresh rotation, ws-ticket (the auth endpoints of docs/api.md)."""

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tickets import ticket_redeem
from tests.support.clients import bearer, login

pytestmark = pytest.mark.django_db


def test_it_logs_in_with_a_token_pair_and_records_last_login(owner):
    response = login("owner")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert set(body["data"]) == {"access", "refresh", "user"}
    assert body["data"]["user"]["username"] == "owner"
    owner.refresh_from_db()
    assert owner.last_login is not None
    assert body["data"]["user"]["lastLogin"] is not None


def test_a_wrong_password_is_invalid_credentials(owner):
    response = login("owner", "wrong")
    assert response.status_code == 401
    assert response.json() == {
        "error": "Invalid username or password.",
        "code": "INVALID_CREDENTIALS",
        "details": None,
    }


def test_an_unknown_user_and_a_malformed_body_are_invalid_credentials(db):
    assert login("nobody").json()["code"] == "INVALID_CREDENTIALS"
    response = APIClient().post("/api/auth/login", {"username": ["x"]}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"


def test_an_inactive_user_cannot_log_in(owner):
    User.objects.filter(pk=owner.pk).update(is_active=False)
    assert login("owner").status_code == 401


def test_me_returns_the_current_user(owner_api):
    response = owner_api.get("/api/auth/me")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["username"] == "owner"
    assert data["role"] == "user"
    assert "password" not in data


def test_me_without_a_token_is_401_invalid_token(api):
    response = api.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"


def test_refresh_rotates_and_the_old_refresh_token_is_spent(owner):
    pair = login("owner").json()["data"]
    response = APIClient().post("/api/auth/refresh", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 200
    new = response.json()["data"]
    assert set(new) == {"access", "refresh"}
    assert new["refresh"] != pair["refresh"]
    assert bearer(new["access"]).get("/api/auth/me").status_code == 200
    again = APIClient().post("/api/auth/refresh", {"refresh": pair["refresh"]}, format="json")
    assert again.status_code == 401
    assert again.json()["code"] == "INVALID_TOKEN"


def test_an_access_token_is_not_a_refresh_token(owner):
    pair = login("owner").json()["data"]
    response = APIClient().post("/api/auth/refresh", {"refresh": pair["access"]}, format="json")
    assert response.status_code == 401


def test_a_ws_ticket_is_issued_for_the_caller_and_redeems_once(owner, owner_api):
    response = owner_api.post("/api/auth/ws-ticket")
    assert response.status_code == 201
    data = response.json()["data"]
    assert set(data) == {"ticket", "expiresIn"}
    assert data["expiresIn"] == 30
    assert ticket_redeem(data["ticket"]) == owner
    assert ticket_redeem(data["ticket"]) is None


def test_a_ws_ticket_needs_authentication(api):
    assert api.post("/api/auth/ws-ticket").status_code == 401
