"""API tokens: create -> use -> scope refusal -> expiry -> revoke -> owner deactivated; the
secret is never readable after creation; a token acts with its owner's role and never more."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts import services
from accounts.apitokens import api_token_create, api_token_digest
from accounts.models import ApiToken
from accounts.tickets import ticket_redeem
from tests.support.clients import PASSWORD, bearer

pytestmark = pytest.mark.django_db


def _create(client, **body):
    body.setdefault("name", "ci")
    return client.post("/api/tokens", body, format="json")


def test_the_lifecycle_create_use_scope_expiry_revoke(owner_api, owner, owner_job):
    later = timezone.now() + timedelta(hours=1)
    response = _create(owner_api, name="deploy", scopes=["read"], expires_at=later.isoformat())
    assert response.status_code == 201
    data = response.json()["data"]
    secret = data["token"]
    assert secret.startswith("tf_") and not secret.startswith("eyJ")  # never mistaken for a JWT
    assert data["scopes"] == ["read"] and data["user"] == "owner" and data["revokedAt"] is None
    assert data["prefix"] == secret[:11]

    script = bearer(secret)
    assert script.get("/api/auth/me").json()["data"]["username"] == "owner"
    assert script.get(f"/api/jobs/{owner_job.id}").status_code == 200

    # read only: a trigger needs run, a change needs write
    refused = script.post(f"/api/jobs/{owner_job.id}/run")
    assert refused.status_code == 403 and "run scope" in refused.json()["error"]
    assert (
        script.patch(f"/api/jobs/{owner_job.id}", {"priority": 5}, format="json").status_code == 403
    )

    with time_machine.travel(later + timedelta(seconds=1)):
        expired = script.get("/api/auth/me")
    assert expired.status_code == 401 and "expired" in expired.json()["error"]

    assert owner_api.delete(f"/api/tokens/{data['id']}").json()["data"]["revokedAt"]
    revoked = script.get("/api/auth/me")
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]


def test_run_and_write_scopes_allow_what_they_name(owner_api, owner_job):
    runner = bearer(_create(owner_api, scopes=["read", "run"]).json()["data"]["token"])
    assert runner.post(f"/api/jobs/{owner_job.id}/run").status_code == 201
    assert (
        runner.patch(f"/api/jobs/{owner_job.id}", {"priority": 5}, format="json").status_code == 403
    )

    writer = bearer(_create(owner_api, name="w", scopes=["write"]).json()["data"]["token"])
    assert (
        writer.patch(f"/api/jobs/{owner_job.id}", {"priority": 5}, format="json").status_code == 200
    )
    assert writer.get("/api/jobs").status_code == 403  # no read scope


def test_deactivating_the_owner_revokes_their_tokens(admin_api, owner_api, owner):
    secret = _create(owner_api).json()["data"]["token"]
    assert bearer(secret).get("/api/auth/me").status_code == 200
    admin_api.patch(f"/api/users/{owner.pk}", {"is_active": False}, format="json")
    assert bearer(secret).get("/api/auth/me").status_code == 401
    assert ApiToken.objects.get(user=owner).revoked_at is not None
    # reactivated: the old token stays revoked
    admin_api.patch(f"/api/users/{owner.pk}", {"is_active": True}, format="json")
    assert bearer(secret).get("/api/auth/me").status_code == 401


def test_a_password_change_revokes_the_owners_tokens(owner_api, owner):
    secret = _create(owner_api).json()["data"]["token"]
    owner_api.post(
        "/api/auth/password",
        {"current_password": PASSWORD, "new_password": "an-entirely-new-passphrase"},
        format="json",
    )
    assert bearer(secret).get("/api/auth/me").status_code == 401


def test_the_secret_is_never_readable_after_creation(owner_api, admin_api):
    created = _create(owner_api).json()["data"]
    secret = created["token"]
    listed = owner_api.get("/api/tokens").json()["data"]
    detail = owner_api.get(f"/api/tokens/{created['id']}").json()["data"]
    everything = admin_api.get("/api/tokens").json()["data"]
    for shown in (listed, detail, everything):
        assert secret not in json.dumps(shown)
    assert "token" not in listed["tokens"][0] and "token" not in detail
    row = ApiToken.objects.get(pk=created["id"])
    assert row.digest == api_token_digest(secret) and secret not in str(row.__dict__)


def test_the_admin_scope_is_for_admins_only(owner_api, admin_api):
    refused = _create(owner_api, scopes=["read", "admin"])
    assert refused.status_code == 400 and "scopes" in refused.json()["details"]
    assert _create(admin_api, scopes=["read", "admin"]).status_code == 201
    # no scopes: every scope the owner may hold
    assert _create(owner_api).json()["data"]["scopes"] == ["read", "run", "write"]
    assert _create(admin_api).json()["data"]["scopes"] == ["read", "run", "write", "admin"]


def test_an_admins_token_without_the_admin_scope_acts_as_a_user(
    admin_api, admin_user, owner_job, outsider_job
):
    plain = bearer(_create(admin_api, scopes=["read", "run", "write"]).json()["data"]["token"])
    assert plain.get("/api/users").status_code == 403
    names = {job["name"] for job in plain.get("/api/jobs").json()["data"]["jobs"]}
    assert names == set()  # the admin owns no job; as a user they see only their own
    full = bearer(_create(admin_api, name="full").json()["data"]["token"])
    assert full.get("/api/users").status_code == 200
    assert len(full.get("/api/jobs").json()["data"]["jobs"]) == 2


def test_a_demoted_owner_loses_the_admin_scope_at_once(admin_api, admin_user):
    other_admin = services.user_create(
        username="second", password=PASSWORD, role="admin", email="second@example.com"
    )
    _token, secret = api_token_create(user=other_admin, name="x")
    assert bearer(secret).get("/api/users").status_code == 200
    admin_api.patch(f"/api/users/{other_admin.pk}", {"role": "user"}, format="json")
    assert bearer(secret).get("/api/users").status_code == 403


def test_users_manage_only_their_own_tokens(owner_api, outsider_api, admin_api, outsider):
    theirs = _create(outsider_api).json()["data"]
    assert owner_api.get(f"/api/tokens/{theirs['id']}").status_code == 404
    assert owner_api.delete(f"/api/tokens/{theirs['id']}").status_code == 404
    assert owner_api.get("/api/tokens").json()["data"]["total"] == 0
    assert _create(owner_api, user="outsider").status_code == 403
    made = _create(admin_api, user="outsider", name="for-outsider").json()["data"]
    assert made["user"] == "outsider"
    assert outsider_api.get("/api/tokens").json()["data"]["total"] == 2
    assert admin_api.delete(f"/api/tokens/{theirs['id']}").status_code == 200


def test_a_token_cannot_mint_tokens(owner_api):
    secret = _create(owner_api).json()["data"]["token"]
    refused = bearer(secret).post("/api/tokens", {"name": "child"}, format="json")
    assert refused.status_code == 403
    assert bearer(secret).get("/api/tokens").status_code == 200


def test_last_use_time_and_address_are_recorded(owner_api):
    created = _create(owner_api).json()["data"]
    assert created["lastUsedAt"] is None
    bearer(created["token"]).get("/api/auth/me", REMOTE_ADDR="192.0.2.7")
    shown = owner_api.get(f"/api/tokens/{created['id']}").json()["data"]
    assert shown["lastUsedIp"] == "192.0.2.7" and shown["lastUsedAt"]


def test_unknown_and_malformed_tokens_are_401(api):
    assert bearer("tf_not-a-token").get("/api/jobs").status_code == 401
    assert bearer("tf_").get("/api/jobs").status_code == 401


def test_bad_input_is_a_validation_error(owner_api):
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert "expires_at" in _create(owner_api, expires_at=past).json()["details"]
    assert "scopes" in _create(owner_api, scopes=["root"]).json()["details"]
    assert "name" in _create(owner_api, name="").json()["details"]


def test_a_token_logs_out_nothing_and_keeps_working(owner_api):
    secret = _create(owner_api).json()["data"]["token"]
    assert bearer(secret).post("/api/auth/logout", {}, format="json").status_code == 200
    assert bearer(secret).get("/api/auth/me").status_code == 200


def test_a_websocket_ticket_keeps_the_tokens_limits(admin_api):
    plain = bearer(_create(admin_api, scopes=["read"]).json()["data"]["token"])
    ticket = plain.post("/api/auth/ws-ticket").json()["data"]["ticket"]  # reading needs read
    assert ticket_redeem(ticket).is_admin is False
    full = bearer(_create(admin_api, name="full").json()["data"]["token"])
    assert ticket_redeem(full.post("/api/auth/ws-ticket").json()["data"]["ticket"]).is_admin
