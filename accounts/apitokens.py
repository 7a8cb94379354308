"""API tokens for scripts and CI: created by a user for themselves (admins for anyone), shown
once, stored as a SHA-256 digest, with optional expiry and scopes, revocable at once.

A token is `tf_` and 43 URL-safe characters, so it can never be mistaken for a JWT (which starts
with `eyJ`). It acts with its owner's role and never more: the admin scope exists only on an
admin's token, and an admin's token without it acts as a plain user (accounts.authentication).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import ApiToken, AuditAction, Role, Scope, User

TOKEN_PREFIX = "tf_"
SHOWN_PREFIX_CHARS = 8  # after "tf_": enough to tell tokens apart in a list, useless to guess
LAST_USE_WRITE_EVERY = timedelta(seconds=60)  # last-use bookkeeping is not a write per request

# Routes whose POST is a run (trigger, cancel, re-run, LocalFlow task) and POSTs that only read.
RUN_ROUTES = frozenset({"job-run", "run-cancel", "run-rerun", "task-create"})
READ_ROUTES = frozenset({"auth-ws-ticket"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenRefused(Exception):
    """Unknown, revoked or expired token, or an inactive owner; the message says which."""


def api_token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_scopes_allowed(user: User) -> list[str]:
    """Every scope `user` may give a token: all but admin, which needs the admin role."""
    return [scope for scope in Scope.values if scope != Scope.ADMIN or user.role == Role.ADMIN]


def api_token_create(
    *, user: User, name: str, scopes: list[str] | None = None, expires_at=None
) -> tuple[ApiToken, str]:
    """A new token of `user` and its secret (returned this once, never stored).

    No scopes means every scope the owner may hold. Raises ValidationError per field."""
    allowed = api_token_scopes_allowed(user)
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = ["Give the token a name of 1 to 100 characters."]
    if scopes is None or len(scopes) == 0:
        scopes = allowed
    unknown = [scope for scope in scopes if scope not in Scope.values]
    if unknown:
        errors["scopes"] = [f"Unknown scope(s): {', '.join(map(str, unknown))}."]
    elif any(scope not in allowed for scope in scopes):
        errors["scopes"] = ["The admin scope is only for admins' tokens."]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry must be in the future."]
    if not user.is_active:
        errors["user"] = ["The owner must be an active user."]
    if errors:
        raise ValidationError(errors)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ordered = [scope for scope in Scope.values if scope in scopes]
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[: len(TOKEN_PREFIX) + SHOWN_PREFIX_CHARS],
            digest=api_token_digest(secret),
            scopes=ordered,
            expires_at=expires_at,
        )
        audit_record(
            action=AuditAction.TOKEN_CREATE,
            obj_type="token",
            obj_id=token.pk,
            obj_repr=str(token),
            subject_user=user,
            changes={
                "scopes": {"from": None, "to": ordered},
                "expires_at": {"from": None, "to": expires_at.isoformat() if expires_at else None},
            },
        )
    return token, secret


def api_token_revoke(*, token: ApiToken, reason: str = "") -> ApiToken:
    """Stop a token at once (idempotent: revoking twice records once)."""
    now = timezone.now()
    with transaction.atomic():
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
            audit_record(
                action=AuditAction.TOKEN_REVOKE,
                obj_type="token",
                obj_id=token.pk,
                obj_repr=str(token),
                subject_user=token.user,
                changes={"reason": {"from": None, "to": reason}} if reason else None,
            )
    token.refresh_from_db()
    return token


def api_tokens_revoke_for(*, user: User, reason: str) -> int:
    """Revoke every live token of `user` (deactivation, password change); returns how many."""
    live = list(ApiToken.objects.filter(user=user, revoked_at__isnull=True))
    for token in live:
        api_token_revoke(token=token, reason=reason)
    return len(live)


def api_token_authenticate(*, secret: str, ip: str | None) -> ApiToken:
    """The token whose secret this is, with its owner; raises TokenRefused. Notes the last use
    (time and address) at most once a minute per address."""
    token = ApiToken.objects.select_related("user").filter(digest=api_token_digest(secret)).first()
    if token is None:
        raise TokenRefused("Unknown API token.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenRefused("This API token has been revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRefused("This API token has expired.")
    if not token.user.is_active:
        raise TokenRefused("The owner of this API token is inactive.")
    stale = token.last_used_at is None or now - token.last_used_at >= LAST_USE_WRITE_EVERY
    if stale or token.last_used_ip != ip:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
        token.last_used_at, token.last_used_ip = now, ip
    return token


def api_token_scope_needed(*, method: str, route: str | None) -> str:
    """The scope a request needs: read for safe methods (and POSTs that only read), run for
    triggers, cancels and re-runs, write for every other change."""
    if method.upper() in SAFE_METHODS or route in READ_ROUTES:
        return Scope.READ
    if route in RUN_ROUTES:
        return Scope.RUN
    return Scope.WRITE
