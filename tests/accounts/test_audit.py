"""The audit trail for accounts and settings: an entry per action from each surface (API,
admin, setup, CLI), diffs without secret values, who may read what, append-only, retention."""

import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_prune, audit_record
from accounts.models import AuditEntry, User
from tests.support.clients import PASSWORD, bearer, logged_in, login

pytestmark = pytest.mark.django_db

SMTP_URL = reverse("admin:notifications_smtpsettings_changelist")


def entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("at", "id"))


def last(**filters) -> AuditEntry:
    found = entries(**filters)
    assert found, f"no audit entry with {filters}"
    return found[-1]


def test_the_api_records_user_changes_with_a_diff_and_no_password(admin_api, admin_user, owner):
    response = admin_api.patch(
        f"/api/users/{owner.pk}",
        {"email": "new@example.com", "role": "admin", "password": "another-long-passphrase"},
        format="json",
        REMOTE_ADDR="198.51.100.4",
    )
    assert response.status_code == 200
    entry = last(action="update", object_type="user")
    assert entry.actor == admin_user and entry.surface == "api" and entry.ip == "198.51.100.4"
    assert entry.changes == {
        "email": {"from": "owner@example.com", "to": "new@example.com"},
        "role": {"from": "user", "to": "admin"},
        "password": "changed",
    }
    assert "another-long-passphrase" not in str(AuditEntry.objects.values_list("changes"))

    created = admin_api.post(
        "/api/users", {"username": "carol", "password": PASSWORD}, format="json"
    ).json()["data"]
    assert last(action="create", object_type="user").object_id == str(created["id"])
    admin_api.delete(f"/api/users/{created['id']}")
    deleted = last(action="delete", object_type="user")
    assert deleted.object_repr == "carol" and deleted.actor == admin_user


def test_logins_failed_logins_logouts_and_password_changes_are_recorded(owner):
    assert login("owner", "wrong", REMOTE_ADDR="203.0.113.9").status_code == 401
    failed = last(action="login_failed")
    assert failed.actor is None and failed.actor_name == "anonymous"
    assert failed.subject_user == owner and failed.ip == "203.0.113.9"
    assert failed.surface == "api"

    pair = login("owner").json()["data"]
    assert last(action="login").actor == owner

    client = bearer(pair["access"])
    client.post(
        "/api/auth/password",
        {"current_password": PASSWORD, "new_password": "an-entirely-new-passphrase"},
        format="json",
    )
    changed = last(action="password_change")
    assert changed.actor == owner and changed.changes == {}

    fresh = login("owner", "an-entirely-new-passphrase").json()["data"]
    bearer(fresh["access"]).post("/api/auth/logout", {}, format="json")
    assert last(action="logout").actor == owner


def test_the_admin_login_form_records_sign_in_failure_and_sign_out(owner):
    client = Client()
    client.post("/admin/login/", {"username": "owner", "password": "nope"})
    assert last(action="login_failed").surface == "admin"
    client.post("/admin/login/", {"username": "owner", "password": PASSWORD})
    assert last(action="login").surface == "admin"
    client.post("/admin/logout/")
    assert last(action="logout").surface == "admin"


def test_tokens_record_their_creation_use_and_revocation(owner_api, owner, admin_api):
    created = owner_api.post("/api/tokens", {"name": "ci"}, format="json").json()["data"]
    entry = last(action="token_create")
    assert entry.actor == owner and entry.object_id == str(created["id"])
    assert entry.subject_user == owner
    assert entry.changes["scopes"] == {"from": None, "to": ["read", "run", "write"]}
    assert created["token"] not in str(entry.changes)

    # acting through the token names both the user and the token
    bearer(created["token"]).post(
        "/api/auth/password",
        {"current_password": PASSWORD, "new_password": "an-entirely-new-passphrase"},
        format="json",
    )
    changed = last(action="password_change")
    assert changed.actor == owner and changed.token_id == created["id"]
    revoked = last(action="token_revoke")
    assert revoked.changes == {"reason": {"from": None, "to": "password change"}}

    second = owner_api.post("/api/tokens", {"name": "two"}, format="json")
    assert second.status_code == 401  # the password change ended owner_api's JWT too


def test_deactivation_revokes_tokens_on_the_admins_behalf(admin_api, admin_user, owner):
    token_id = admin_api.post("/api/tokens", {"name": "x", "user": "owner"}, format="json").json()[
        "data"
    ]["id"]
    admin_api.patch(f"/api/users/{owner.pk}", {"is_active": False}, format="json")
    revoked = last(action="token_revoke")
    assert revoked.object_id == str(token_id) and revoked.actor == admin_user
    assert revoked.changes["reason"]["to"] == "owner deactivated"


def test_smtp_changes_show_which_fields_changed_and_never_the_password(admin_api):
    admin_api.put(
        "/api/settings/smtp",
        {"server": "mail.example.com", "port": 2525, "password": "hunter2-smtp"},
        format="json",
    )
    entry = last(action="smtp_change")
    assert entry.changes["server"] == {"from": "", "to": "mail.example.com"}
    assert entry.changes["port"] == {"from": 587, "to": 2525}
    assert entry.changes["password"] == "changed"
    assert "hunter2-smtp" not in str(entry.changes)
    admin_api.put("/api/settings/smtp", {"port": 2525}, format="json")
    assert len(entries(action="smtp_change")) == 1  # nothing changed, nothing recorded


def test_the_admin_pages_record_settings_and_user_edits(admin_client, admin_user, owner):
    admin_client.post(SMTP_URL, {"action": "allowlist", "entries": "10.0.0.0/8\n"})
    entry = last(action="update", object_type="setting")
    assert entry.surface == "admin" and entry.actor == admin_user
    assert entry.changes == {"entries": {"from": [], "to": ["10.0.0.0/8"]}}

    url = reverse("admin:accounts_user_change", args=[owner.pk])
    data = {
        "username": "owner",
        "email": "renamed@example.com",
        "first_name": "",
        "last_name": "",
        "role": "user",
        "is_active": "on",
    }
    assert admin_client.post(url, data).status_code == 302
    edit = last(action="update", object_type="user")
    assert edit.surface == "admin"
    assert edit.changes == {"email": {"from": "owner@example.com", "to": "renamed@example.com"}}

    password_url = reverse("admin:auth_user_password_change", args=[owner.pk])
    new_password = {"password1": "yet-another-passphrase", "password2": "yet-another-passphrase"}
    admin_client.post(password_url, {**new_password, "usable_password": "true"})
    changed = last(action="password_change")
    assert changed.surface == "admin" and changed.actor == admin_user
    assert changed.subject_user == owner


def test_setup_and_the_createadmin_command_name_their_surface(api, monkeypatch):
    api.post(
        "/setup/admin",
        {"username": "root", "password": "a-long-unusual-passphrase"},
        format="json",
    )
    first = last(action="create", object_type="user")
    assert first.surface == "setup" and first.object_repr == "root"

    monkeypatch.setattr(sys, "stdin", StringIO("another-unusual-passphrase\n"))
    call_command(
        "createadmin", "--username", "second", "--force", "--password-stdin", stdout=StringIO()
    )
    second = last(action="create", object_type="user")
    assert second.surface == "cli" and second.actor_name == "system"
    assert second.object_repr == "second"


def test_the_audit_api_has_the_interface_keys_and_filters(admin_api, owner):
    login("owner", "wrong")
    login("owner")
    body = admin_api.get("/api/audit").json()["data"]
    assert body["total"] >= 2
    entry = body["entries"][0]
    for key in ("action", "actor", "objectType", "objectId", "changes", "at", "ip"):
        assert key in entry
    assert entry["at"].endswith("Z")
    failed = admin_api.get("/api/audit?action=login_failed").json()["data"]["entries"]
    assert [e["action"] for e in failed] == ["login_failed"]
    assert failed[0]["actor"] == "anonymous" and failed[0]["objectId"] == str(owner.pk)
    by_object = admin_api.get(f"/api/audit?object_id={owner.pk}").json()["data"]["entries"]
    assert {e["objectId"] for e in by_object} == {str(owner.pk)}
    page = admin_api.get("/api/audit?limit=1&offset=1").json()["data"]
    assert len(page["entries"]) == 1
    assert admin_api.get("/api/audit?action=nonsense").status_code == 400


def test_users_read_only_entries_by_or_about_themselves(owner_api, outsider_api, owner, admin_api):
    login("owner", "wrong")
    owner_api.post("/api/tokens", {"name": "mine"}, format="json")
    outsider_api.post("/api/tokens", {"name": "theirs"}, format="json")
    admin_api.post("/api/users", {"username": "zed", "password": PASSWORD}, format="json")

    mine = owner_api.get("/api/audit").json()["data"]["entries"]
    assert {e["action"] for e in mine} == {"login_failed", "token_create"}
    assert all(e["object"] != "zed" for e in mine)
    theirs = outsider_api.get("/api/audit").json()["data"]["entries"]
    assert [e["action"] for e in theirs] == ["token_create"]
    everything = admin_api.get("/api/audit").json()["data"]["total"]
    assert everything > len(mine) + len(theirs)


def test_the_trail_is_append_only(admin_api, admin_client, admin_user):
    entry = audit_record(action="update", obj_type="setting", obj_id="x")
    for method in ("post", "put", "patch", "delete"):
        assert getattr(admin_api, method)("/api/audit").status_code == 405
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="delete")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    change = reverse("admin:accounts_auditentry_change", args=[entry.pk])
    assert admin_client.post(change, {"action": "delete"}).status_code == 403
    delete = reverse("admin:accounts_auditentry_delete", args=[entry.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse("admin:accounts_auditentry_add")).status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).action == "update"


def test_the_admin_lists_the_trail_with_filters_scoped_to_the_viewer(owner, outsider):
    login("owner", "wrong")
    login("outsider", "wrong")
    url = reverse("admin:accounts_auditentry_changelist")
    admin_view = logged_in(User.objects.create_superuser("boss", password=PASSWORD, role="admin"))
    page = admin_view.get(url + "?action__exact=login_failed")
    assert page.status_code == 200
    assert {e.object_repr for e in page.context["cl"].result_list} == {"owner", "outsider"}
    own = logged_in(owner).get(url).context["cl"].result_list
    assert all(e.subject_user_id == owner.pk or e.actor_id == owner.pk for e in own)
    assert "outsider" not in {e.object_repr for e in own}


def test_retention_prunes_old_entries_only(settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "AUDIT_RETENTION_DAYS": 30}
    old = audit_record(action="update", obj_type="setting", obj_id="old")
    AuditEntry._base_manager.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=31))
    recent = audit_record(action="update", obj_type="setting", obj_id="recent")
    assert audit_prune() == 1
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [recent.pk]


def test_the_address_is_the_client_the_rate_limits_see(owner, settings):
    login("owner", "wrong", HTTP_X_FORWARDED_FOR="9.9.9.9", REMOTE_ADDR="10.0.0.1")
    assert last(action="login_failed").ip == "10.0.0.1"  # no trusted proxy: the socket
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.TASKFLOW = {**settings.TASKFLOW, "TRUSTED_PROXY_ADDRESSES": ["10.0.0.1"]}
    login("owner", "wrong", HTTP_X_FORWARDED_FOR="9.9.9.9, 1.2.3.4", REMOTE_ADDR="10.0.0.1")
    assert last(action="login_failed").ip == "1.2.3.4"  # what the trusted proxy appended
