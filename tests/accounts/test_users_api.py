"""Users API (admin only): list, create, update, delete; the last admin is protected."""

import pytest

from accounts.models import Role, User
from tests.factories import AdminFactory, JobFactory
from tests.support.clients import login

pytestmark = pytest.mark.django_db


def test_an_admin_lists_users_without_passwords(admin_api, owner, outsider):
    response = admin_api.get("/api/users")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["total"] == 3
    assert [user["username"] for user in data["users"]] == ["admin", "outsider", "owner"]
    assert all("password" not in user for user in data["users"])
    assert set(data["users"][0]) == {
        "id",
        "username",
        "email",
        "role",
        "is_active",
        "lastLogin",
        "createdAt",
    }


def test_users_never_see_or_manage_users(owner_api, outsider):
    for method, url in [
        ("get", "/api/users"),
        ("post", "/api/users"),
        ("get", f"/api/users/{outsider.pk}"),
        ("put", f"/api/users/{outsider.pk}"),
        ("delete", f"/api/users/{outsider.pk}"),
    ]:
        response = getattr(owner_api, method)(url, {}, format="json")
        assert response.status_code == 403, url
        assert response.json()["code"] == "UNAUTHORIZED"


def test_an_admin_creates_a_user_who_can_log_in(admin_api):
    response = admin_api.post(
        "/api/users",
        {"username": "carol", "password": "a-long-unusual-passphrase", "email": "c@example.com"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["data"]["role"] == "user"
    assert login("carol", "a-long-unusual-passphrase").status_code == 200


def test_a_duplicate_username_is_a_conflict(admin_api, owner):
    response = admin_api.post(
        "/api/users", {"username": "owner", "password": "a-long-unusual-passphrase"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"


def test_a_weak_password_is_a_field_error(admin_api):
    response = admin_api.post("/api/users", {"username": "dan", "password": "1"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["details"]


def test_an_admin_promotes_and_renames_a_user(admin_api, owner):
    response = admin_api.put(
        f"/api/users/{owner.pk}", {"role": "admin", "username": "owner2"}, format="json"
    )
    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN and owner.is_superuser and owner.username == "owner2"


def test_the_last_admin_cannot_be_demoted_deactivated_or_deleted(admin_api, admin_user):
    for payload in ({"role": "user"}, {"is_active": False}):
        response = admin_api.put(f"/api/users/{admin_user.pk}", payload, format="json")
        assert response.status_code == 409
        assert response.json()["code"] == "CONFLICT"
    assert admin_api.delete(f"/api/users/{admin_user.pk}").status_code == 409
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN and admin_user.is_active


def test_an_admin_can_be_demoted_when_another_admin_remains(admin_api, admin_user):
    AdminFactory(username="second")
    response = admin_api.put(f"/api/users/{admin_user.pk}", {"role": "user"}, format="json")
    assert response.status_code == 200


def test_an_admin_deletes_a_user(admin_api, outsider):
    response = admin_api.delete(f"/api/users/{outsider.pk}")
    assert response.status_code == 200
    assert response.json()["data"] == {"id": str(outsider.pk), "deleted": True}
    assert not User.objects.filter(pk=outsider.pk).exists()


def test_deleting_a_user_who_owns_jobs_is_a_conflict(admin_api, owner):
    JobFactory(created_by=owner)
    response = admin_api.delete(f"/api/users/{owner.pk}")
    assert response.status_code == 409
    assert User.objects.filter(pk=owner.pk).exists()


def test_an_unknown_or_absurd_user_id_is_404(admin_api):
    assert admin_api.get("/api/users/99999").status_code == 404
    response = admin_api.get("/api/users/99999999999999999999999")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_the_user_list_pages_with_limit_and_offset(admin_api, owner, outsider):
    data = admin_api.get("/api/users?limit=1&offset=1").json()["data"]
    assert data["total"] == 3
    assert [user["username"] for user in data["users"]] == ["outsider"]
    assert admin_api.get("/api/users?limit=0").status_code == 400
