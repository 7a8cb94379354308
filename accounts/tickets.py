"""Single-use, short-lived tickets that let API clients open a WebSocket without a JWT in the URL.

A ticket is signed (SECRET_KEY, own salt) and names the user and a random id; redeeming it
inserts that id into accounts.RevokedToken, whose primary key makes a second redemption fail
in every process (daphne, a second web process) without any shared cache.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import RevokedToken, User

TICKET_SECONDS = 30
_SALT = "taskflow.ws-ticket"
_JTI_PREFIX = "ws:"


def ticket_issue(*, user: User) -> tuple[str, int]:
    """A new ticket for `user` and its lifetime in seconds."""
    payload = {"u": user.pk, "j": secrets.token_hex(16), "t": timezone.now().timestamp()}
    return signing.dumps(payload, salt=_SALT, compress=False), TICKET_SECONDS


def ticket_issued_at(ticket: str) -> datetime | None:
    """When a (validly signed) ticket was issued; None for a bad or expired one."""
    try:
        payload = signing.loads(ticket, salt=_SALT, max_age=TICKET_SECONDS)
    except (signing.BadSignature, TypeError, ValueError):
        return None
    return datetime.fromtimestamp(payload["t"], tz=UTC)


def ticket_redeem(ticket: str) -> User | None:
    """The ticket's user, once: None when forged, expired, already used, or the user was
    deactivated or had their tokens revoked after the ticket was issued."""
    if not ticket or len(ticket) > 300:
        return None
    try:
        payload = signing.loads(ticket, salt=_SALT, max_age=TICKET_SECONDS)
        user_id, jti, issued = int(payload["u"]), str(payload["j"]), float(payload["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    issued_at = datetime.fromtimestamp(issued, tz=UTC)
    try:
        with transaction.atomic():
            RevokedToken.objects.create(
                jti=f"{_JTI_PREFIX}{jti}",
                expires_at=issued_at + timedelta(seconds=TICKET_SECONDS + 60),
            )
    except IntegrityError:
        return None  # used before
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    if user.tokens_valid_after and issued_at <= user.tokens_valid_after:
        return None
    return user
