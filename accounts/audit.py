"""The audit trail: who changed or did what, when, from which address and through which surface.

Services call `audit_record` where the change happens (accounts, jobs, runs, notifications), so
the API, the admin, commands and the engine all record through one path. Who and from where come
from the audit context unless given: AuditContextMiddleware opens one for every HTTP request
(client address as the throttles see it, surface by path, the session's user), the API's
authentication classes add the JWT's or token's user, and commands and the engine open their own
with `audit_context`. Entries are append-only; `audit_prune` applies AUDIT_RETENTION_DAYS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.models import ApiToken, AuditEntry, Surface
from accounts.throttles import client_address

SECRET_CHANGED = "changed"  # what a diff shows for a secret instead of its values
MAX_VALUE_CHARS = 1000
PRUNE_BATCH = 1000
_KEEP: Any = object()
HTTP_SURFACES = frozenset({Surface.API, Surface.ADMIN, Surface.SETUP, Surface.SSO})


@dataclass
class AuditContext:
    surface: str = Surface.SYSTEM
    user: Any = None  # a User, a lazy request.user, or None for the system
    token: ApiToken | None = None
    ip: str | None = None


_current: ContextVar[AuditContext | None] = ContextVar("taskflow_audit_context", default=None)


@contextmanager
def audit_context(
    *, surface: str | None = None, user: Any = _KEEP, token: Any = _KEEP, ip: Any = _KEEP
) -> Iterator[AuditContext]:
    """What is recorded inside comes from `surface` (and `user`...); what is not given is taken
    from the enclosing context, so the engine cancelling runs because a user deleted their job
    records that user."""
    outer = _current.get() or AuditContext()
    context = AuditContext(
        surface=surface or outer.surface,
        user=outer.user if user is _KEEP else user,
        token=outer.token if token is _KEEP else token,
        ip=outer.ip if ip is _KEEP else ip,
    )
    reset = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(reset)


def audit_context_authenticated(*, user, token: ApiToken | None = None) -> None:
    """The API authenticated `user` (with `token` when it was an API token) for this request."""
    context = _current.get()
    if context is not None:
        context.user = user
        context.token = token


def _signed_in(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def audit_record(
    *,
    action: str,
    actor=None,
    token: ApiToken | None = None,
    obj_type: str,
    obj_id,
    changes: dict | None = None,
    ip: str | None = None,
    obj_repr: str = "",
    job_id=None,
    subject_user=None,
    surface: str | None = None,
    actor_name: str | None = None,
) -> AuditEntry:
    """Append one entry. Actor, token, address and surface default to the audit context's.

    `job_id` / `subject_user` name the job and the user the entry is about (who may read it).
    It is written in the caller's transaction: a change that rolls back leaves no entry.
    """
    context = _current.get() or AuditContext()
    if actor is None and token is None:
        actor, token = _signed_in(context.user), context.token
    if actor is None and token is not None:
        actor = token.user
    if actor_name is None:
        nobody = "anonymous" if context.surface in HTTP_SURFACES else "system"
        actor_name = actor.get_username() if actor is not None else nobody
    entry = AuditEntry(
        at=timezone.now(),
        action=action,
        actor=actor,
        actor_name=actor_name[:150],
        token=token,
        surface=surface or context.surface,
        ip=ip or context.ip,
        object_type=obj_type,
        object_id="" if obj_id is None else str(obj_id)[:64],
        object_repr=str(obj_repr)[:200],
        job_id=job_id,
        subject_user=subject_user,
        changes=changes or {},
    )
    entry.save(force_insert=True)
    return entry


def audit_user(action: str, user, *, changes: dict | None = None, actor=None) -> AuditEntry:
    """An entry about a user (sign-in, sign-out, password, account changes), readable by them."""
    return audit_record(
        action=action,
        actor=actor,
        obj_type="user",
        obj_id=user.pk,
        obj_repr=user.get_username(),
        subject_user=user,
        changes=changes,
    )


def _plain(value):
    """A JSON value for a diff: dates as ISO text, models and ids as text, long text cut."""
    if isinstance(value, datetime):
        value = value.isoformat()
    elif hasattr(value, "_meta") and hasattr(value, "pk"):  # a model instance
        value = str(value)
    text = json.dumps(value, default=str)
    if len(text) > MAX_VALUE_CHARS:
        return text[:MAX_VALUE_CHARS] + "…"
    return json.loads(text)


def audit_changes(before: dict, after: dict, *, secret: frozenset | set = frozenset()) -> dict:
    """Field -> {"from", "to"} for each key of `after` whose value differs from `before`;
    fields in `secret` show "changed" instead, so no value of theirs is ever stored."""
    changes: dict = {}
    for field, new in after.items():
        old = before.get(field)
        if old == new:
            continue
        changes[field] = (
            SECRET_CHANGED if field in secret else {"from": _plain(old), "to": _plain(new)}
        )
    return changes


def audit_snapshot(obj, fields) -> dict:
    """The current values of `fields` of a model instance (the `before` of a diff)."""
    return {field: getattr(obj, field) for field in fields}


def audit_prune(*, now: datetime | None = None) -> int:
    """Delete entries older than AUDIT_RETENTION_DAYS in batches; returns how many went.

    The only delete of audit entries: through the base manager, past the append-only guard."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.TASKFLOW["AUDIT_RETENTION_DAYS"])
    entries = AuditEntry._base_manager
    removed = 0
    while True:
        ids = list(entries.filter(at__lt=cutoff).values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            return removed
        removed += entries.filter(pk__in=ids).delete()[0]


def request_context(request) -> AuditContext:
    """The audit context of an HTTP request (AuditContextMiddleware)."""
    path = request.path
    if path.startswith("/api/"):
        surface = Surface.API
    elif path.startswith("/setup"):
        surface = Surface.SETUP
    elif path.startswith("/oidc/"):
        surface = Surface.SSO
    else:
        surface = Surface.ADMIN
    return AuditContext(
        surface=surface, user=getattr(request, "user", None), ip=client_address(request)
    )


class AuditContextMiddleware:
    """Opens the audit context of each request (after AuthenticationMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        context = request_context(request)
        with audit_context(surface=context.surface, user=context.user, token=None, ip=context.ip):
            return self.get_response(request)
