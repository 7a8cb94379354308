"""Single-use, short-lived tickets that let API clients open a WebSocket without a JWT in the URL.

A ticket is signed (SECRET_KEY, own salt) and names the user and a random id; redeeming it
inserts that id into accounts.RevokedToken, whose primary key makes a second redemption fail
in every process (daphne, a second web process) without any shared cache. It also names the
credential that obtained it (a JWT's jti, an API token's id): a socket opened with it closes
when that credential is logged out or revoked (ticket_credential_live).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.apitokens import TOKEN_PREFIX, TokenRefused, api_token_authenticate
from accounts.models import ApiToken, RevokedToken, Scope, User
from accounts.services import token_is_revoked

TICKET_SECONDS = 30
_SALT = "taskflow.ws-ticket"
_JTI_PREFIX = "ws:"


def ticket_issue(
    *, user: User, access_jti: str | None = None, api_token_id: int | None = None
) -> tuple[str, int]:
    """A new ticket for `user` (obtained with that JWT or API token) and its lifetime."""
    payload = {"u": user.pk, "j": secrets.token_hex(16), "t": timezone.now().timestamp()}
    if access_jti:
        payload["a"] = str(access_jti)
    if api_token_id is not None:
        payload["k"] = int(api_token_id)
    if getattr(user, "admin_withheld", False):
        payload["w"] = 1  # issued through an API token without the admin scope: stays so
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
    user.admin_withheld = bool(payload.get("w"))
    user.ticket_credential = {key: payload[key] for key in ("a", "k") if key in payload}
    return user


def ticket_credential_live(credential: dict) -> bool:
    """Is the credential that obtained a ticket still good (not logged out, not revoked)?"""
    jti = credential.get("a")
    if jti and RevokedToken.objects.filter(jti=str(jti)).exists():
        return False
    token_id = credential.get("k")
    if token_id is not None:
        token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
        return token is not None and token.usable(timezone.now())
    return True


def bearer_redeem(header: str, *, ip: str | None) -> tuple[User, dict, datetime | None] | None:
    """A WebSocket client's `Authorization: Bearer <API token | access token>`: (user, the
    credential, when it expires), or None when refused. An API token needs the read scope."""
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or len(secret) > 4096:
        return None
    if secret.startswith(TOKEN_PREFIX):
        try:
            token = api_token_authenticate(secret=secret, ip=ip)
        except TokenRefused:
            return None
        if Scope.READ not in token.scopes:
            return None
        user = token.user
        user.admin_withheld = Scope.ADMIN not in token.scopes
        return user, {"k": token.pk}, token.expires_at
    try:
        access = AccessToken(secret)  # signature, algorithm, expiry, token type
    except TokenError:
        return None
    user = User.objects.filter(pk=access.get("user_id"), is_active=True).first()
    if user is None or token_is_revoked(user=user, token=access):
        return None
    return user, {"a": access.get("jti")}, datetime.fromtimestamp(access["exp"], tz=UTC)
