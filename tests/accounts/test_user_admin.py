"""The users admin follows the same rules as the users API (accounts.services)."""

import pytest
from rest_framework.test import APIClient

from accounts.models import Role, Setting, User
from accounts.services import token_pair_for

pytestmark = pytest.mark.django_db


def _change_payload(user, **overrides):
    data = {
        "username": user.username,
        "email": user.email,
        "first_name": "",
        "last_name": "",
        "role": user.role,
        "is_active": "on" if user.is_active else "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value != ""}


def _bearer(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(user)['access']}")
    return client


def test_it_refuses_to_demote_the_last_active_admin(admin_client, admin_user):
    url = f"/admin/accounts/user/{admin_user.pk}/change/"
    response = admin_client.post(url, _change_payload(admin_user, role=Role.USER))
    assert response.status_code == 200
    assert "last active admin" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN


def test_it_hides_delete_for_the_last_active_admin(admin_client, admin_user):
    response = admin_client.get(f"/admin/accounts/user/{admin_user.pk}/delete/")
    assert response.status_code == 403
    assert User.objects.filter(pk=admin_user.pk).exists()


def test_deactivating_a_user_in_the_admin_revokes_their_tokens(admin_client, owner):
    client = _bearer(owner)
    assert client.get("/api/auth/me").status_code == 200
    url = f"/admin/accounts/user/{owner.pk}/change/"
    response = admin_client.post(url, _change_payload(owner, is_active=""))
    assert response.status_code == 302
    owner.refresh_from_db()
    assert not owner.is_active and not owner.is_staff
    assert client.get("/api/auth/me").status_code == 401


def test_a_password_set_by_an_admin_revokes_the_users_tokens(admin_client, owner):
    client = _bearer(owner)
    url = f"/admin/accounts/user/{owner.pk}/password/"
    new = "another-long-passphrase-42"
    response = admin_client.post(
        url, {"password1": new, "password2": new, "usable_password": "true"}
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(new)
    assert client.get("/api/auth/me").status_code == 401


def test_promoting_a_user_makes_them_superuser(admin_client, owner):
    url = f"/admin/accounts/user/{owner.pk}/change/"
    response = admin_client.post(url, _change_payload(owner, role=Role.ADMIN))
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN and owner.is_superuser


def test_raw_settings_are_read_only_in_the_admin(admin_client):
    Setting.objects.create(key="smtp", value={"server": "mail.example.com"})
    assert admin_client.get("/admin/accounts/setting/add/").status_code == 403
    response = admin_client.post(
        "/admin/accounts/setting/smtp/change/", {"key": "smtp", "value": '{"server": "x"}'}
    )
    assert response.status_code == 403
    assert Setting.objects.get(key="smtp").value == {"server": "mail.example.com"}
