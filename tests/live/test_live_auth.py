"""Who may open a live stream: session or single-use ticket, right Origin, own runs only;
revocation, deactivation, logout and expiry close open sockets."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.services import token_pair_for, user_revoke_tokens
from accounts.tickets import TICKET_SECONDS, ticket_issue
from runs import consumers
from runs.models import RunStatus
from tests.factories import JobFactory, RunFactory
from tests.live.conftest import REAL_AUTH_RECHECK_SECONDS, add_lines, communicator, receive_all

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running_run(owner):
    run = RunFactory(
        job=JobFactory(created_by=owner), status=RunStatus.RUNNING, started_at=timezone.now()
    )
    add_lines(run, 1, ["secret output"])
    return run


def path(run, query=""):
    return f"/api/runs/{run.id}/logs/live{query}"


async def refused(comm) -> bool:
    connected, _ = await comm.connect()
    if connected:
        await comm.disconnect()
    return not connected


async def test_it_refuses_another_users_run_without_sending_data(running_run, outsider_session):
    comm = communicator(path(running_run), session=outsider_session)

    assert await refused(comm)


async def test_it_lets_an_admin_watch_any_run(running_run, admin_session):
    comm = communicator(path(running_run), session=admin_session)
    connected, _ = await comm.connect()

    assert connected
    assert json.loads(await comm.receive_from(5))["status"] == "running"
    await comm.disconnect()


async def test_it_refuses_an_unknown_run(owner_session):
    comm = communicator(
        "/api/runs/00000000-0000-0000-0000-000000000000/logs/live", session=owner_session
    )

    assert await refused(comm)


async def test_it_refuses_a_wrong_or_missing_origin(running_run, owner_session):
    assert await refused(
        communicator(path(running_run), session=owner_session, origin=b"http://evil.example")
    )
    assert await refused(communicator(path(running_run), session=owner_session, origin=None))


async def test_it_refuses_anonymous_clients_and_jwts_in_the_url(running_run, owner):
    access = await database_sync_to_async(token_pair_for)(owner)

    assert await refused(communicator(path(running_run)))
    assert await refused(communicator(path(running_run, f"?token={access['access']}")))
    assert await refused(communicator(path(running_run, f"?ticket={access['access']}")))


async def test_it_accepts_a_ticket_exactly_once(running_run, owner):
    ticket, _ = await database_sync_to_async(ticket_issue)(user=owner)

    first = communicator(path(running_run, f"?ticket={ticket}"))
    connected, _ = await first.connect()
    assert connected
    assert json.loads(await first.receive_from(5))["type"] == "status"
    await first.disconnect()

    assert await refused(communicator(path(running_run, f"?ticket={ticket}")))


async def test_it_refuses_an_expired_ticket(running_run, owner):
    with time_machine.travel(timezone.now() - timedelta(seconds=TICKET_SECONDS + 5)):
        ticket, _ = await database_sync_to_async(ticket_issue)(user=owner)

    assert await refused(communicator(path(running_run, f"?ticket={ticket}")))


async def test_it_refuses_an_outsiders_ticket_for_the_owners_run(running_run, outsider):
    ticket, _ = await database_sync_to_async(ticket_issue)(user=outsider)

    assert await refused(communicator(path(running_run, f"?ticket={ticket}")))


async def _closes_within(comm, seconds: float) -> int:
    """Drain messages until the close frame; fail if it takes longer than `seconds`."""
    started = time.monotonic()
    _, code = await receive_all(comm, timeout=seconds)
    assert time.monotonic() - started < seconds
    return code


async def test_it_closes_a_session_socket_when_the_users_tokens_are_revoked(
    running_run, owner, owner_session
):
    comm = communicator(path(running_run), session=owner_session)
    assert (await comm.connect())[0]

    await database_sync_to_async(user_revoke_tokens)(user=owner)

    assert await _closes_within(comm, 5) == 4401


async def test_it_closes_a_ticket_socket_when_the_user_is_deactivated(running_run, owner):
    ticket, _ = await database_sync_to_async(ticket_issue)(user=owner)
    comm = communicator(path(running_run, f"?ticket={ticket}"))
    assert (await comm.connect())[0]

    owner.is_active = False
    await database_sync_to_async(owner.save)(update_fields=["is_active"])

    assert await _closes_within(comm, 5) == 4401


async def test_it_closes_when_the_session_ends(running_run, owner_session):
    comm = communicator(path(running_run), session=owner_session)
    assert (await comm.connect())[0]

    await database_sync_to_async(Session.objects.filter(session_key=owner_session).delete)()

    assert await _closes_within(comm, 5) == 4401


async def test_it_closes_a_ticket_socket_when_its_lifetime_ends(running_run, owner, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(seconds=1)}
    ticket, _ = await database_sync_to_async(ticket_issue)(user=owner)
    comm = communicator(path(running_run, f"?ticket={ticket}"))
    assert (await comm.connect())[0]

    assert await _closes_within(comm, 5) == 4401


async def test_it_closes_when_the_run_is_no_longer_visible(running_run, owner_session, owner):
    comm = communicator(path(running_run), session=owner_session)
    assert (await comm.connect())[0]

    other = await database_sync_to_async(JobFactory)()
    await database_sync_to_async(
        type(running_run.job).objects.filter(pk=running_run.job_id).update
    )(created_by=other.created_by)

    assert await _closes_within(comm, 5) == 4401


async def test_it_closes_within_5_seconds_with_the_production_timings(
    running_run, owner, owner_session, monkeypatch
):
    monkeypatch.setattr(consumers, "AUTH_RECHECK_SECONDS", REAL_AUTH_RECHECK_SECONDS)
    comm = communicator(path(running_run), session=owner_session)
    assert (await comm.connect())[0]

    await database_sync_to_async(user_revoke_tokens)(user=owner)

    assert await _closes_within(comm, 5) == 4401
