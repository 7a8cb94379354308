"""E2: logout, password change and deactivation stop tokens at once."""

import pytest
from rest_framework.test import APIClient

from accounts import services
from accounts.models import User
from tests.support.clients import CSRF_SECRET, PASSWORD, bearer, login

pytestmark = pytest.mark.django_db


def test_logout_kills_that_access_token_at_once_and_its_refresh_token(owner):
    pair = login("owner").json()["data"]
    client = bearer(pair["access"])
    assert client.get("/api/auth/me").status_code == 200

    response = client.post("/api/auth/logout", {}, format="json")
    assert response.status_code == 200
    assert response.json() == {"data": {"loggedOut": True}, "status": "success"}

    assert client.get("/api/auth/me").status_code == 401
    refresh = APIClient().post("/api/auth/refresh", {"refresh": pair["refresh"]}, format="json")
    assert refresh.status_code == 401


def test_logout_leaves_other_sessions_alone(owner):
    first = login("owner").json()["data"]
    second = login("owner").json()["data"]
    bearer(first["access"]).post("/api/auth/logout", {}, format="json")
    assert bearer(second["access"]).get("/api/auth/me").status_code == 200


def test_password_change_revokes_every_token_and_a_new_login_right_after_works(owner):
    old = login("owner").json()["data"]
    other = login("owner").json()["data"]
    response = bearer(old["access"]).post(
        "/api/auth/password",
        {"current_password": PASSWORD, "new_password": "an-entirely-new-passphrase"},
        format="json",
    )
    assert response.status_code == 200
    fresh = response.json()["data"]
    # every token issued before the change is refused, in the same second too
    assert bearer(old["access"]).get("/api/auth/me").status_code == 401
    assert bearer(other["access"]).get("/api/auth/me").status_code == 401
    assert (
        APIClient()
        .post("/api/auth/refresh", {"refresh": other["refresh"]}, format="json")
        .status_code
        == 401
    )
    # the pair handed back and a login right after both work
    assert bearer(fresh["access"]).get("/api/auth/me").status_code == 200
    relogin = login("owner", "an-entirely-new-passphrase")
    assert relogin.status_code == 200
    assert bearer(relogin.json()["data"]["access"]).get("/api/auth/me").status_code == 200
    assert login("owner", PASSWORD).status_code == 401


def test_password_change_needs_the_current_password(owner_api):
    response = owner_api.post(
        "/api/auth/password",
        {"current_password": "wrong", "new_password": "an-entirely-new-passphrase"},
        format="json",
    )
    assert response.status_code == 400
    assert "current_password" in response.json()["details"]


def test_a_weak_new_password_is_a_field_error(owner_api):
    response = owner_api.post(
        "/api/auth/password", {"current_password": PASSWORD, "new_password": "123"}, format="json"
    )
    assert response.status_code == 400
    assert "new_password" in response.json()["details"]


def test_deactivation_by_an_admin_revokes_the_users_tokens(owner, admin_api):
    pair = login("owner").json()["data"]
    response = admin_api.put(f"/api/users/{owner.pk}", {"is_active": False}, format="json")
    assert response.status_code == 200
    assert bearer(pair["access"]).get("/api/auth/me").status_code == 401
    assert (
        APIClient()
        .post("/api/auth/refresh", {"refresh": pair["refresh"]}, format="json")
        .status_code
        == 401
    )


def test_a_token_revoked_by_cut_off_stays_revoked_after_reactivation(owner):
    pair = login("owner").json()["data"]
    services.user_revoke_tokens(user=owner)
    User.objects.filter(pk=owner.pk).update(is_active=True)
    assert bearer(pair["access"]).get("/api/auth/me").status_code == 401
    assert login("owner").status_code == 200


def test_session_logout_ends_the_browser_session(owner):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get("/api/auth/me").status_code == 200
    client.cookies["csrftoken"] = CSRF_SECRET
    response = client.post("/api/auth/logout", {}, format="json", HTTP_X_CSRFTOKEN=CSRF_SECRET)
    assert response.status_code == 200
    assert client.get("/api/auth/me").status_code == 401


def test_logout_also_blacklists_a_refresh_token_sent_in_the_body(owner):
    first = login("owner").json()["data"]
    second = login("owner").json()["data"]
    bearer(first["access"]).post("/api/auth/logout", {"refresh": second["refresh"]}, format="json")
    for refresh in (first["refresh"], second["refresh"]):
        response = APIClient().post("/api/auth/refresh", {"refresh": refresh}, format="json")
        assert response.status_code == 401


def test_logout_cannot_blacklist_another_users_refresh_token(owner, outsider):
    mine = login("owner").json()["data"]
    theirs = login("outsider").json()["data"]
    bearer(mine["access"]).post("/api/auth/logout", {"refresh": theirs["refresh"]}, format="json")
    response = APIClient().post("/api/auth/refresh", {"refresh": theirs["refresh"]}, format="json")
    assert response.status_code == 200
