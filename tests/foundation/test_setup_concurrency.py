"""E1: 20 simultaneous POST /setup/admin against a real daphne make exactly one admin, and a
closed setup never hashes a password."""

import json
import sys
import threading
import urllib.error
import urllib.request

import pytest

from accounts.models import Role, User
from tests.support.processes import free_port, wait_for_port

PASSWORD = "a-long-unusual-passphrase"


def post_setup(port, username):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/setup/admin",
        data=json.dumps({"username": username, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_setups_make_exactly_one_admin(processes):
    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    processes.start("web", [*argv, "taskflow_site.asgi:application"])
    wait_for_port(port)
    barrier = threading.Barrier(20)
    results = []

    def attempt(number):
        barrier.wait()
        results.append(post_setup(port, f"admin{number}"))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 19
    assert all(body["code"] == "CONFLICT" for status, body in results if status == 409)
    admin = User.objects.get()
    assert admin.role == Role.ADMIN
    winner = next(body for status, body in results if status == 201)
    assert winner["data"]["user"]["username"] == admin.username


@pytest.mark.django_db
def test_a_closed_setup_never_hashes_a_password(client, admin_user, monkeypatch):
    hashed = []
    original = User.set_password
    monkeypatch.setattr(
        User, "set_password", lambda self, raw: hashed.append(raw) or original(self, raw)
    )
    for number in range(5):
        payload = {"username": f"late{number}", "password": PASSWORD}
        response = client.post("/setup/admin", payload, content_type="application/json")
        assert response.status_code == 409
    form = {"username": "late", "password": PASSWORD, "password_confirm": PASSWORD}
    assert client.post("/setup", form).status_code == 302
    assert hashed == []
    assert User.objects.count() == 1
