"""Every door throttled and revoking the same way: the admin's login form counts with
/api/auth/login (5/min per client address); every way of changing a password ends the user's
JWTs; the admin's Run now and re-run share the API's per-user run limit; X-Forwarded-For counts
only from a trusted proxy address ("unix": a peer on TaskFlow's Unix socket)."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.management import call_command
from django.test import Client

from accounts.services import token_pair_for, user_change_password
from runs.models import Run
from tests.factories import RunFactory
from tests.support.clients import PASSWORD, bearer, logged_in, login

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-horse-battery-9"


def admin_login(client: Client, username: str, password: str, **extra):
    return client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, **extra
    )


# ---- the admin's login form ----


def test_the_admin_login_form_refuses_the_sixth_attempt_even_with_the_right_password(owner):
    client = Client()
    for _ in range(5):
        assert admin_login(client, "owner", "wrong", REMOTE_ADDR="10.1.1.1").status_code == 200
    response = admin_login(client, "owner", PASSWORD, REMOTE_ADDR="10.1.1.1")
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert b"Too many login attempts" in response.content
    assert SESSION_KEY not in client.session  # not logged in: the API sees no session either
    assert client.get("/api/auth/me").status_code in (401, 403)
    other = Client()
    assert admin_login(other, "owner", PASSWORD, REMOTE_ADDR="10.1.1.2").status_code == 302


def test_the_admin_form_and_the_api_count_together(owner):
    for _ in range(3):
        login("owner", "wrong", REMOTE_ADDR="10.2.2.2")
    for _ in range(2):
        admin_login(Client(), "owner", "wrong", REMOTE_ADDR="10.2.2.2")
    assert login("owner", PASSWORD, REMOTE_ADDR="10.2.2.2").status_code == 429
    assert admin_login(Client(), "owner", PASSWORD, REMOTE_ADDR="10.2.2.2").status_code == 429


# ---- every password change ends the user's tokens ----


def _token_dies(user, change) -> None:
    api = bearer(token_pair_for(user)["access"])
    assert api.get("/api/auth/me").status_code == 200
    change()
    assert api.get("/api/auth/me").status_code == 401
    user.refresh_from_db()
    assert user.tokens_valid_after is not None


def test_the_api_password_change_revokes(owner):
    _token_dies(
        owner,
        lambda: user_change_password(
            user=owner, current_password=PASSWORD, new_password=NEW_PASSWORD
        ),
    )


def test_the_admins_own_password_form_revokes(owner):
    client = logged_in(owner)

    def change():
        response = client.post(
            "/admin/password_change/",
            {
                "old_password": PASSWORD,
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD,
            },
        )
        assert response.status_code == 302, response.content

    _token_dies(owner, change)


def test_an_admin_setting_a_password_revokes(admin_client, owner):
    def change():
        response = admin_client.post(
            f"/admin/accounts/user/{owner.pk}/password/",
            {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
        )
        assert response.status_code == 302, response.content

    _token_dies(owner, change)


def test_the_users_api_setting_a_password_revokes(admin_api, owner):
    def change():
        response = admin_api.patch(
            f"/api/users/{owner.pk}", {"password": NEW_PASSWORD}, format="json"
        )
        assert response.status_code == 200, response.content

    _token_dies(owner, change)


def test_manage_py_changepassword_revokes(owner, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
    _token_dies(owner, lambda: call_command("changepassword", "owner", stdout=None))


def test_saving_a_user_without_a_new_password_revokes_nothing(owner):
    api = bearer(token_pair_for(owner)["access"])
    owner.first_name = "Olivia"
    owner.save()
    assert api.get("/api/auth/me").status_code == 200


# ---- Run now in the admin: the API's per-user run limit ----


def test_admin_run_now_honours_the_run_throttle(owner_api, owner_client, owner_job):
    for _ in range(10):
        assert owner_api.post(f"/api/jobs/{owner_job.id}/run").status_code == 201
    before = Run.objects.count()
    response = owner_client.post(f"/admin/jobs/job/{owner_job.pk}/run/", follow=True)
    assert b"Too many runs started" in response.content
    assert Run.objects.count() == before
    response = owner_client.post(
        "/admin/jobs/job/",
        {"action": "run_now", "_selected_action": [str(owner_job.pk)]},
        follow=True,
    )
    assert b"Too many runs started" in response.content
    assert Run.objects.count() == before


def test_admin_rerun_honours_the_run_throttle(owner_api, owner_client, owner_job):
    run = RunFactory(job=owner_job, status="failure")
    for _ in range(10):
        assert owner_api.post(f"/api/jobs/{owner_job.id}/run").status_code == 201
    before = Run.objects.count()
    response = owner_client.post(f"/admin/runs/run/{run.pk}/rerun/", follow=True)
    assert b"Too many runs started" in response.content
    assert Run.objects.count() == before


# ---- X-Forwarded-For only from trusted proxies ----


@pytest.fixture
def one_proxy(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    return settings


def test_a_local_process_cannot_rotate_x_forwarded_for(one_proxy, owner):
    # the default trusts only the Unix socket: a job on 127.0.0.1 is its own client
    for index in range(5):
        login("owner", "wrong", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"9.9.9.{index}")
    response = login("owner", PASSWORD, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="8.8.8.8")
    assert response.status_code == 429


def test_a_configured_proxy_address_is_believed(one_proxy, owner):
    one_proxy.TASKFLOW = {**one_proxy.TASKFLOW, "TRUSTED_PROXY_ADDRESSES": ["10.0.0.0/8"]}
    for index in range(5):
        login("owner", "wrong", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=f"9.9.9.{index}")
    response = login("owner", PASSWORD, REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="8.8.8.8")
    assert response.status_code == 200


def test_a_peer_on_the_unix_socket_is_the_trusted_proxy(one_proxy, owner):
    # daphne gives a Unix-socket request no REMOTE_ADDR
    for index in range(5):
        login("owner", "wrong", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR=f"9.9.9.{index}")
    response = login("owner", PASSWORD, REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="8.8.8.8")
    assert response.status_code == 200
    for _ in range(5):
        login("owner", "wrong", REMOTE_ADDR="")  # no header: all of them are "unix"
    assert login("owner", PASSWORD, REMOTE_ADDR="").status_code == 429
