"""Sign-ins through Django's auth (the admin's login form, single sign-on, the setup page) and
every failed password attempt, recorded in the audit trail; API logins record in the service."""

from __future__ import annotations

from accounts.audit import audit_record, audit_user
from accounts.models import AuditAction, User


def login_recorded(sender, request, user, **kwargs) -> None:
    audit_user(AuditAction.LOGIN, user, actor=user)


def logout_recorded(sender, request, user, **kwargs) -> None:
    if user is None:  # the session had expired already
        return
    audit_user(AuditAction.LOGOUT, user, actor=user)


def login_failure_recorded(sender, credentials, request=None, **kwargs) -> None:
    """Who tried is unknown: the entry names the account tried (its owner may read it)."""
    username = str(credentials.get("username") or "")
    target = User.objects.filter(username=username).first() if username else None
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        obj_type="user",
        obj_id=target.pk if target else "",
        obj_repr=username[:200] or "(single sign-on)",
        subject_user=target,
        actor_name="anonymous",
    )
