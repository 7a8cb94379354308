"""The /setup page: a browser form that creates the first admin, logs in, and then closes."""

import pytest

from accounts.models import Role, User

pytestmark = pytest.mark.django_db

GOOD = {
    "username": "root",
    "email": "root@example.com",
    "password": "a-long-unusual-passphrase",
    "password_confirm": "a-long-unusual-passphrase",
}


def test_it_shows_the_form_while_no_user_exists(client):
    response = client.get("/setup")
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password_confirm"' in response.content


def test_it_creates_the_admin_logs_in_and_lands_in_the_admin(client):
    response = client.post("/setup", GOOD)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    user = User.objects.get()
    assert (user.username, user.role, user.is_superuser) == ("root", Role.ADMIN, True)
    assert client.get("/admin/").status_code == 200  # the session is logged in
    assert client.get("/setup/status").json()["data"]["needsSetup"] is False


def test_it_closes_once_a_user_exists(client, owner):
    response = client.get("/setup")
    assert response.status_code == 302
    response = client.post("/setup", {**GOOD, "username": "intruder"})
    assert response.status_code == 302
    assert not User.objects.filter(username="intruder").exists()


def test_it_refuses_a_weak_password_with_a_clear_message(client):
    response = client.post("/setup", {**GOOD, "password": "123", "password_confirm": "123"})
    assert response.status_code == 200
    assert b"This password is too short" in response.content
    assert not User.objects.exists()


def test_it_refuses_two_different_passwords(client):
    response = client.post("/setup", {**GOOD, "password_confirm": "something-else-entirely"})
    assert response.status_code == 200
    assert b"The two passwords differ." in response.content
    assert not User.objects.exists()
