"""Debug profiling: ?profile=1 and /debug/stacks exist only in debug mode and only for admins."""

import os
import signal

import pytest
from django.test import override_settings

from tests.support.processes import child_env, wait_for

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=True)
def test_an_admin_gets_a_profile_of_the_request_in_debug_mode(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/setup/status?profile=1")
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert text.startswith("GET /setup/status -> ")
    assert "Ordered by: cumulative time" in text


@override_settings(DEBUG=True)
def test_a_non_admin_gets_the_normal_response(client, owner):
    client.force_login(owner)
    response = client.get("/setup/status?profile=1")
    assert response["Content-Type"] == "application/json"


def test_profiling_is_off_without_debug_mode(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/setup/status?profile=1")["Content-Type"] == "application/json"
    assert client.get("/debug/stacks").status_code == 404


@override_settings(DEBUG=True)
def test_an_admin_sees_every_thread_stack_of_the_web_process(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/debug/stacks")
    assert response.status_code == 200
    assert "Thread MainThread" in response.content.decode()


@override_settings(DEBUG=True)
def test_stacks_are_hidden_from_non_admins(client, owner):
    assert client.get("/debug/stacks").status_code == 404
    client.force_login(owner)
    assert client.get("/debug/stacks").status_code == 404


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_sigusr1_dumps_every_thread_stack_of_a_process_in_debug_mode(processes):
    cluster = processes.manage("cluster", "qcluster", env=child_env(TASKFLOW_DEBUG="true"))
    wait_for(lambda: "database pragmas" in processes.log_text("cluster"), timeout=90)

    os.kill(cluster.pid, signal.SIGUSR1)

    wait_for(lambda: "most recent call first" in processes.log_text("cluster"), timeout=20)
    assert cluster.poll() is None  # a dump, not a death
