"""WebSocket tickets: single use, short lived, bound to the user's current tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.services import user_revoke_tokens
from accounts.tickets import TICKET_SECONDS, ticket_issue, ticket_redeem

pytestmark = pytest.mark.django_db


def test_it_redeems_a_ticket_once(owner):
    ticket, expires_in = ticket_issue(user=owner)

    assert expires_in == TICKET_SECONDS
    assert ticket_redeem(ticket) == owner
    assert ticket_redeem(ticket) is None


def test_it_refuses_an_expired_ticket(owner):
    with time_machine.travel(timezone.now() - timedelta(seconds=TICKET_SECONDS + 1)):
        ticket, _ = ticket_issue(user=owner)

    assert ticket_redeem(ticket) is None


def test_it_refuses_a_forged_or_garbled_ticket(owner):
    ticket, _ = ticket_issue(user=owner)

    assert ticket_redeem(ticket[:-2] + ("A" if ticket[-2] != "A" else "B") + ticket[-1]) is None
    assert ticket_redeem("") is None
    assert ticket_redeem("x" * 1000) is None


def test_it_refuses_tickets_of_deactivated_or_revoked_users(owner, outsider):
    revoked_ticket, _ = ticket_issue(user=owner)
    inactive_ticket, _ = ticket_issue(user=outsider)
    user_revoke_tokens(user=owner)
    outsider.is_active = False
    outsider.save(update_fields=["is_active"])

    assert ticket_redeem(revoked_ticket) is None
    assert ticket_redeem(inactive_ticket) is None
