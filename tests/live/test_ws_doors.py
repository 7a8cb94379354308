"""The WebSocket door: the Origin checked exactly (scheme, host and port), a client without an
Origin only with a ticket or a bearer credential, sockets closed by a JWT logout (those opened
with its tickets) and by every password change, an unknown path a 404."""

from __future__ import annotations

import json
import string
from urllib.parse import urlencode

import hypothesis
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.apitokens import api_token_create
from accounts.services import token_pair_for, user_change_password
from accounts.tickets import ticket_issue
from runs.models import RunStatus
from taskflow_site.asgi import application
from tests.factories import JobFactory, RunFactory
from tests.live.conftest import ORIGIN, Communicator, add_lines, communicator, receive_all
from tests.support.clients import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running_run(owner):
    run = RunFactory(
        job=JobFactory(created_by=owner), status=RunStatus.RUNNING, started_at=timezone.now()
    )
    add_lines(run, 1, ["hello"])
    return run


def path(run, query=""):
    return f"/api/runs/{run.id}/logs/live{query}"


def raw(path: str, headers: list[tuple[bytes, bytes]], client=("203.0.113.5", 5000)):
    comm = Communicator(application, path, headers=headers)
    comm.scope["client"] = client
    return comm


async def opens(comm) -> bool:
    connected, _ = await comm.connect()
    if connected:
        assert json.loads(await comm.receive_from(5))["type"] == "status"
        await comm.disconnect()
    return connected


async def test_the_same_host_on_another_port_is_another_origin(running_run, owner_session):
    for origin in (b"http://localhost:9999", b"https://localhost:8000", b"http://localhost"):
        comm = communicator(path(running_run), session=owner_session, origin=origin)
        assert not await opens(comm), origin
    assert await opens(communicator(path(running_run), session=owner_session, origin=ORIGIN))


async def test_a_configured_trusted_origin_is_accepted(running_run, owner_session, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://taskflow.example"]
    ok = communicator(path(running_run), session=owner_session, origin=b"https://taskflow.example")
    assert await opens(ok)
    other = b"https://taskflow.example:8443"
    assert not await opens(communicator(path(running_run), session=owner_session, origin=other))


async def test_https_behind_a_trusted_proxy_only(running_run, owner_session, settings):
    headers = [
        (b"host", b"localhost:8000"),
        (b"origin", b"https://localhost:8000"),
        (b"x-forwarded-proto", b"https"),
        (b"cookie", f"sessionid={owner_session}".encode()),
    ]
    assert not await opens(raw(path(running_run), headers, client=("127.0.0.1", 1)))
    settings.TASKFLOW = {**settings.TASKFLOW, "TRUSTED_PROXY_ADDRESSES": ["127.0.0.1"]}
    assert await opens(raw(path(running_run), headers, client=("127.0.0.1", 1)))


async def test_no_origin_and_only_a_cookie_is_refused(running_run, owner_session):
    comm = communicator(path(running_run), session=owner_session, origin=None)
    assert not await opens(comm)


async def test_no_origin_with_a_ticket_is_accepted(running_run, owner):
    ticket, _ = await database_sync_to_async(ticket_issue)(user=owner)
    comm = communicator(path(running_run, f"?ticket={ticket}"), origin=None)
    assert await opens(comm)


async def test_no_origin_with_a_bearer_jwt_or_api_token_is_accepted(running_run, owner):
    access = (await database_sync_to_async(token_pair_for)(owner))["access"]
    headers = [(b"authorization", f"Bearer {access}".encode())]
    assert await opens(raw(path(running_run), headers))
    _token, secret = await database_sync_to_async(api_token_create)(
        user=owner, name="ci", scopes=["read"]
    )
    headers = [(b"authorization", f"Bearer {secret}".encode())]
    assert await opens(raw(path(running_run), headers))
    assert not await opens(raw(path(running_run), [(b"authorization", b"Bearer nonsense")]))


async def test_a_jwt_logout_closes_the_sockets_opened_with_its_tickets(running_run, owner):
    access = (await database_sync_to_async(token_pair_for)(owner))["access"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = await database_sync_to_async(api.post)("/api/auth/ws-ticket")
    ticket = response.json()["data"]["ticket"]
    comm = communicator(path(running_run, f"?ticket={ticket}"))
    connected, _ = await comm.connect()
    assert connected
    assert (
        await database_sync_to_async(api.post)("/api/auth/logout", {}, format="json")
    ).status_code == 200
    _, code = await receive_all(comm, timeout=5)
    assert code == 4401


async def test_a_password_change_closes_the_users_sockets(running_run, owner, owner_session):
    ticket, _ = await database_sync_to_async(ticket_issue)(user=owner)
    by_ticket = communicator(path(running_run, f"?ticket={ticket}"))
    by_cookie = communicator(path(running_run), session=owner_session)
    assert (await by_ticket.connect())[0] and (await by_cookie.connect())[0]
    await database_sync_to_async(user_change_password)(
        user=owner, current_password=PASSWORD, new_password="a-new-horse-battery-9"
    )
    assert (await receive_all(by_ticket, timeout=5))[1] == 4401
    assert (await receive_all(by_cookie, timeout=5))[1] == 4401


async def test_an_unknown_path_is_a_404_not_a_server_error(owner_session):
    for unknown in ("/ws/nothing", "/api/runs/not-a-uuid/logs/live", "/"):
        comm = communicator(unknown, session=owner_session)
        await comm.send_input({"type": "websocket.connect"})
        start = await comm.receive_output(5)
        assert start == {"type": "websocket.http.response.start", "status": 404, "headers": []}
        await comm.wait(5)


SEGMENTS = st.one_of(
    st.sampled_from(["api", "runs", "logs", "live", "ws", "dashboard", "..", "%00", ""]),
    st.uuids().map(str),
    st.text(alphabet=string.ascii_letters + string.digits + "-_.~%", max_size=12),
)
QUERY = st.dictionaries(
    st.sampled_from(["after", "batch", "ticket", "x"]),
    st.one_of(st.integers(-(2**70), 2**70).map(str), st.text(string.printable, max_size=30)),
    max_size=3,
)


@hypothesis.given(
    segments=st.lists(SEGMENTS, max_size=5),
    query=QUERY,
    origin=st.sampled_from([ORIGIN, None, b"http://localhost:1", b"null", b"::"]),
)
@hypothesis.settings(
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_fuzzing_the_websocket_entry_points_finds_no_server_error(
    running_run, owner_session, segments, query, origin
):
    if segments[:1] == ["api"] and len(segments) >= 2:
        segments = ["api", "runs", str(running_run.id), "logs", "live"][: len(segments)]

    async def probe():
        url = "/" + "/".join(segments) + ("?" + urlencode(query) if query else "")
        comm = communicator(url, session=owner_session, origin=origin)
        await comm.send_input({"type": "websocket.connect"})
        first = await comm.receive_output(5)  # an exception in the app is raised here
        assert first["type"] in {
            "websocket.accept",
            "websocket.close",
            "websocket.http.response.start",
        }, first
        if first["type"] == "websocket.http.response.start":
            assert first["status"] == 404
        await comm.disconnect()

    async_to_sync(probe)()
