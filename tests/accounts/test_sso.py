"""Single sign-on rules without a browser: claim matching, claim-to-role mapping, SSO-only mode
refusing passwords (the whole flow against a real provider is in test_sso_browser.py)."""

import pytest
from django.test import Client

from accounts.models import AuditEntry, Role, User
from accounts.oidc import sso_role
from accounts.oidc_backend import OidcBackend
from tests.support.clients import PASSWORD, login

pytestmark = pytest.mark.django_db

SSO = {
    "OIDC_ISSUER": "http://127.0.0.1:9/",
    "OIDC_RP_CLIENT_ID": "taskflow",
    "OIDC_ADMIN_CLAIM": "groups",
    "OIDC_ADMIN_VALUES": ["taskflow-admins"],
    "OIDC_MATCH_CLAIM": "email",
}


@pytest.fixture
def sso(settings):
    for key, value in SSO.items():
        setattr(settings, key, value)
    settings.AUTHENTICATION_BACKENDS = [  # as settings list them with an issuer configured
        *settings.AUTHENTICATION_BACKENDS,
        "accounts.oidc_backend.OidcBackend",
    ]
    return settings


def test_a_new_user_is_created_as_user_unless_a_group_maps_to_admin(sso):
    backend = OidcBackend()
    alice = backend.create_user(
        {"sub": "1", "email": "alice@example.com", "preferred_username": "alice"}
    )
    assert (alice.username, alice.role, alice.has_usable_password()) == ("alice", "user", False)
    boss = backend.create_user(
        {"sub": "2", "email": "boss@example.com", "groups": ["staff", "taskflow-admins"]}
    )
    assert boss.role == Role.ADMIN and boss.is_superuser and boss.username == "boss@example.com"
    created = AuditEntry.objects.filter(action="create", object_type="user")
    assert {entry.object_repr for entry in created} == {"alice", "boss@example.com"}


def test_users_are_matched_by_the_configured_claim(sso, owner):
    backend = OidcBackend()
    assert list(backend.filter_users_by_claims({"email": "OWNER@example.com"})) == [owner]
    sso.OIDC_MATCH_CLAIM = "preferred_username"
    assert list(backend.filter_users_by_claims({"preferred_username": "owner"})) == [owner]
    assert not backend.verify_claims({"email": "owner@example.com"})
    made = backend.create_user({"preferred_username": "dora", "email": "d@example.com"})
    assert made.username == "dora"


def test_a_taken_username_gets_a_suffix(sso, owner):
    made = OidcBackend().create_user({"email": "other@example.com", "preferred_username": "owner"})
    assert made.username == "owner-2"


def test_the_role_follows_the_group_at_each_sign_in_but_never_drops_the_last_admin(
    sso, owner, admin_user
):
    backend = OidcBackend()
    promoted = backend.update_user(owner, {"groups": ["taskflow-admins"]})
    assert promoted.role == Role.ADMIN
    demoted = backend.update_user(promoted, {"groups": []})
    assert demoted.role == Role.USER
    last = backend.update_user(admin_user, {"groups": "nobody"})
    assert last.role == Role.ADMIN  # the last active admin stays


def test_without_a_mapping_the_role_is_left_alone(sso):
    sso.OIDC_ADMIN_VALUES = []
    assert sso_role({"groups": ["taskflow-admins"]}) is None


def test_sso_only_refuses_password_logins_with_a_clear_message(sso, owner):
    sso.OIDC_SSO_ONLY = True
    response = login("owner")
    assert response.status_code == 403
    assert "single sign-on" in response.json()["error"]
    assert AuditEntry.objects.filter(action="login_failed", subject_user=owner).exists()

    page = Client().post("/admin/login/", {"username": "owner", "password": PASSWORD})
    assert page.status_code == 200 and "_auth_user_id" not in page.client.session


def test_password_logins_work_when_sso_is_offered_beside_them(sso, owner):
    sso.OIDC_SSO_ONLY = False
    assert login("owner").status_code == 200
    assert User.objects.get(username="owner").last_login is not None


def test_single_sign_on_is_off_until_configured(client):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert b"sso-login" not in client.get("/admin/login/").content


def test_a_failed_sign_in_says_so_on_the_login_page(sso, client):
    page = client.get("/admin/login/?sso=failed").content.decode()
    assert 'id="sso-failed"' in page and 'id="sso-login"' in page


def test_an_unreachable_provider_sends_the_browser_back_with_the_failure(sso, client):
    response = client.get("/oidc/authenticate/")  # SSO["OIDC_ISSUER"] is a closed port
    assert response.status_code == 302 and response["Location"].endswith("?sso=failed")
