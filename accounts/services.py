"""User workflows: creation, first-run setup, login, tokens and revocation (each recorded in
the audit trail, accounts.audit)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.apitokens import api_tokens_revoke_for
from accounts.audit import SECRET_CHANGED, audit_changes, audit_record, audit_snapshot, audit_user
from accounts.models import AuditAction, RevokedToken, Role, Setting, User
from taskflow_site.lib import netguard

SETUP_DONE_KEY = "setup.completed"
EMAIL_MAX = 254  # RFC 5321's limit, and the column's


class SetupClosed(Exception):
    """The first admin exists already; setup never runs twice."""


def setup_needed() -> bool:
    return not User.objects.exists()


def _username_taken(username: str, *, other_than: User | None = None) -> bool:
    """Usernames are unique whatever their case ("Admin" is "admin")."""
    users = User.objects.filter(username__iexact=username)
    return users.exclude(pk=other_than.pk).exists() if other_than else users.exists()


def _email_check(email: str) -> None:
    if email and (len(email) > EMAIL_MAX or not _valid_email(email)):
        message = f"Enter a valid e-mail address of at most {EMAIL_MAX} characters."
        raise ValidationError({"email": [message]})


def _valid_email(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def user_create(*, username: str, password: str, email: str = "", role: str = Role.USER) -> User:
    """Create an active user; raises django ValidationError for a weak password or bad role."""
    if role not in Role.values:
        raise ValidationError({"role": [f"Role must be one of {', '.join(Role.values)}."]})
    if _username_taken(username):
        raise ValidationError({"username": ["A user with that username already exists."]})
    _email_check(email)
    user = User(username=username, email=email or "", role=role)
    validate_password(password, user)
    user.set_password(password)
    user.is_staff = True  # every user may use the admin; querysets limit what they see
    user.is_superuser = role == Role.ADMIN
    user.full_clean(exclude=["password"])
    user.save()
    audit_user(AuditAction.CREATE, user, changes={"role": {"from": None, "to": role}})
    return user


def user_create_external(*, username: str, email: str = "", role: str = Role.USER) -> User:
    """A user who signs in through single sign-on only: no usable password."""
    if role not in Role.values:
        raise ValidationError({"role": [f"Role must be one of {', '.join(Role.values)}."]})
    if _username_taken(username):
        raise ValidationError({"username": ["A user with that username already exists."]})
    user = User(username=username, email=email or "", role=role)
    user.set_unusable_password()
    user.is_staff = True
    user.is_superuser = role == Role.ADMIN
    user.full_clean(exclude=["password"])
    user.save()
    # the person signing in for the first time creates their own account
    audit_user(AuditAction.CREATE, user, changes={"role": {"from": None, "to": role}}, actor=user)
    return user


def setup_admin_create(*, username: str, password: str, email: str = "") -> User:
    """Create the first admin, exactly once even under concurrent requests.

    The check runs before any password hashing so a closed setup stays cheap; the insert of the
    `setup.completed` setting (a primary key) is what makes two racing transactions unable to
    both succeed, on SQLite and PostgreSQL alike.
    """
    if not setup_needed():
        raise SetupClosed
    try:
        with transaction.atomic():
            Setting.objects.create(key=SETUP_DONE_KEY, value={"at": timezone.now().isoformat()})
            if User.objects.exists():
                raise SetupClosed
            return user_create(username=username, password=password, email=email, role=Role.ADMIN)
    except IntegrityError as exc:
        raise SetupClosed from exc


class LoginFailed(Exception):
    """Unknown user, wrong password or inactive account (never says which)."""


class PasswordLoginDisabled(Exception):
    """Single sign-on only: passwords are refused (API tokens and SSO still work)."""


def password_login_allowed() -> bool:
    return not settings.OIDC_SSO_ONLY


class LastAdmin(Exception):
    """The change would leave no active admin."""


class UserHasJobs(Exception):
    """The user owns jobs (PROTECT): reassign or delete them first."""


def _now_us() -> int:
    return time.time_ns() // 1000


def _as_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def token_pair_for(user: User) -> dict[str, str]:
    """A new refresh/access pair.

    `iat_us` (microseconds) is what revocation compares with `tokens_valid_after`: JWT's `iat`
    has 1-second resolution, so a login in the same second as a password change would be
    refused (or an older token accepted). `rjti` ties the access token to its refresh token so
    that logout can blacklist both from the access token alone.
    """
    refresh = RefreshToken.for_user(user)  # recorded as an OutstandingToken
    refresh["role"] = user.role
    refresh["iat_us"] = _now_us()
    access = refresh.access_token  # copies role and iat_us
    access["rjti"] = refresh["jti"]
    return {"access": str(access), "refresh": str(refresh)}


def token_is_revoked(*, user: User, token) -> bool:
    """True when the token predates the user's revocation cut-off or was logged out."""
    cutoff = user.tokens_valid_after
    if cutoff is not None:
        issued_us = token.get("iat_us")
        if isinstance(issued_us, int):
            if issued_us <= _as_us(cutoff):
                return True
        else:  # a token without our claim: fall back to the 1-second `iat`
            issued_at = token.get("iat")
            if issued_at is None or issued_at <= cutoff.timestamp():
                return True
    jti = token.get("jti")
    return bool(jti) and RevokedToken.objects.filter(jti=jti).exists()


def user_login(*, username: str, password: str) -> tuple[User, dict[str, str]]:
    """Check the credentials, record last_login, return the user and a token pair."""
    user = authenticate(username=username, password=password)  # hashes even for unknown users
    if not password_login_allowed():  # accounts.oidc.PasswordGate refused it, and it is recorded
        raise PasswordLoginDisabled
    if user is None or not user.is_active:
        raise LoginFailed  # recorded by the user_login_failed receiver (accounts.signals)
    now = timezone.now()
    User.objects.filter(pk=user.pk).update(last_login=now)
    user.last_login = now
    audit_user(AuditAction.LOGIN, user, actor=user)
    return user, token_pair_for(user)


def _blacklist_refresh_jti(*, jti: str, user: User | None = None) -> bool:
    """Blacklist one refresh token by jti; False when it was blacklisted already.

    BlacklistedToken.token is one-to-one, so of two concurrent callers exactly one inserts
    (the other gets IntegrityError): this is what makes refresh rotation single-use (E3).
    """
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    outstanding = OutstandingToken.objects.filter(jti=jti).first()
    if outstanding is None:
        return False
    if user is not None and outstanding.user_id not in (None, user.pk):
        return False
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:
        return False
    return True


def token_refresh(*, refresh: str) -> tuple[User, dict[str, str]]:
    """Rotate: the presented refresh token is spent (atomically), a new pair is issued.

    Raises TokenError for a bad, expired, revoked or already used token.
    """
    token = RefreshToken(refresh)  # signature, algorithm, expiry, type, blacklist
    user = User.objects.filter(pk=token.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])).first()
    if user is None or not user.is_active or token_is_revoked(user=user, token=token):
        raise TokenError("Token is invalid or expired")
    if not _blacklist_refresh_jti(jti=token["jti"], user=user):
        raise TokenError("Token is blacklisted")
    return user, token_pair_for(user)


def token_logout(*, user: User, access: AccessToken | None, refresh: str | None = None) -> None:
    """That access token stops working at once; its refresh token is blacklisted."""
    now = timezone.now()
    if access is not None or refresh:  # a session logout is recorded by user_logged_out
        audit_user(AuditAction.LOGOUT, user)
    RevokedToken.objects.filter(expires_at__lt=now).delete()  # keep the table small
    if access is not None and access.get("jti"):
        RevokedToken.objects.get_or_create(
            jti=access["jti"],
            defaults={"expires_at": datetime.fromtimestamp(access["exp"], tz=UTC)},
        )
        if access.get("rjti"):
            _blacklist_refresh_jti(jti=str(access["rjti"]), user=user)
    if refresh:
        try:
            token = RefreshToken(refresh)
        except TokenError:
            return  # already unusable
        _blacklist_refresh_jti(jti=token["jti"], user=user)


def user_change_password(*, user: User, current_password: str, new_password: str) -> None:
    """Change one's own password; every token issued before now stops working."""
    if not user.check_password(current_password):
        raise ValidationError({"current_password": ["The current password is wrong."]})
    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password": exc.messages}) from None
    user.set_password(new_password)
    user.save(update_fields=["password"])  # revokes every token: password_change_revokes
    audit_user(AuditAction.PASSWORD_CHANGE, user)


def user_is_last_active_admin(*, user: User) -> bool:
    return user.is_admin and not _other_active_admin_exists(user=user)


def _other_active_admin_exists(*, user: User) -> bool:
    # select_for_update serialises concurrent demotions on PostgreSQL; SQLite's IMMEDIATE
    # transactions serialise every writer anyway.
    admins = User.objects.select_for_update().filter(role=Role.ADMIN, is_active=True)
    return admins.exclude(pk=user.pk).exists()


def user_update(
    *,
    user: User,
    username: str | None = None,
    email: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> User:
    """Admin edit of a user. Refuses to demote or deactivate the last active admin;
    deactivation and a new password revoke every token of that user."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        was_active_admin = user.is_admin
        before = audit_snapshot(user, _AUDITED_USER_FIELDS)
        fields: list[str] = []
        if username is not None and username != user.username:
            if _username_taken(username, other_than=user):
                raise ValidationError({"username": ["A user with that username already exists."]})
            user.username = username
            fields.append("username")
        if email is not None:
            _email_check(email)
            user.email = email
            fields.append("email")
        if role is not None:
            if role not in Role.values:
                raise ValidationError({"role": [f"Role must be one of {', '.join(Role.values)}."]})
            user.role = role
            user.is_superuser = role == Role.ADMIN
            fields += ["role", "is_superuser"]
        if is_active is not None:
            user.is_active = is_active
            user.is_staff = is_active  # every active user may use the (scoped) admin
            fields += ["is_active", "is_staff"]
        if password is not None:
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise ValidationError({"password": exc.messages}) from None
            user.set_password(password)
            fields.append("password")
        if was_active_admin and not user.is_admin and not _other_active_admin_exists(user=user):
            raise LastAdmin
        if fields:
            user.save(update_fields=fields)
            changes = audit_changes(before, audit_snapshot(user, _AUDITED_USER_FIELDS))
            if password is not None:
                changes["password"] = SECRET_CHANGED
            if changes:
                audit_user(AuditAction.UPDATE, user, changes=changes)
    if is_active is False:  # a new password revoked them on save (password_change_revokes)
        user_revoke_tokens(user=user, reason="owner deactivated")
    return user


_AUDITED_USER_FIELDS = ("username", "email", "role", "is_active")


def user_delete(*, user: User) -> None:
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_admin and not _other_active_admin_exists(user=user):
            raise LastAdmin
        try:
            with transaction.atomic():
                audit_user(AuditAction.DELETE, user)
                user.delete()
        except ProtectedError as exc:
            raise UserHasJobs from exc


def user_revoke_tokens(*, user: User, reason: str = "sessions revoked") -> None:
    """Refuse every token issued to `user` up to now (password change, deactivation): JWTs,
    refresh tokens and API tokens alike."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    now = timezone.now()
    User.objects.filter(pk=user.pk).update(tokens_valid_after=now)
    user.tokens_valid_after = now
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    api_tokens_revoke_for(user=user, reason=reason)


def password_change_noticed(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """pre_save of User: does the stored password change? Every path comes through here: the
    API, the admin's forms, `manage.py changepassword`, createadmin."""
    instance._password_changing = False
    if raw or instance._state.adding:
        return
    if update_fields is not None and "password" not in update_fields:
        return
    stored = User.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._password_changing = stored is not None and stored != instance.password


def password_change_revokes(sender, instance, **kwargs) -> None:
    """post_save of User: a changed password ends every token, ticket socket and other
    session of that user, whichever path changed it."""
    if getattr(instance, "_password_changing", False):
        instance._password_changing = False
        user_revoke_tokens(user=instance, reason="password change")


# ---- the HTTP allowlist (an admin setting) ----------------------------------------------------


def allowlist_load() -> netguard.Allowlist:
    """The HTTP-job and webhook allowlist: settings.TASKFLOW["HTTP_ALLOWLIST"] plus the
    admin-edited Setting row (taskflow_site.lib.netguard takes it as an argument)."""
    return netguard.Allowlist.from_entries(
        [*settings.TASKFLOW["HTTP_ALLOWLIST"], *allowlist_stored()],
        own=netguard.listener_networks(settings.CONFIG.host, settings.CONFIG.port),
    )


def allowlist_stored() -> list[str]:
    row = Setting.objects.filter(key=settings.TASKFLOW["HTTP_ALLOWLIST_SETTING"]).first()
    value = row.value if row and isinstance(row.value, dict) else {}
    return [str(item) for item in value.get("entries", []) if str(item).strip()]


def allowlist_update(*, entries: list[str]) -> list[str]:
    """Validate and store the admin-edited allowlist; raises ValueError naming the bad entry."""
    cleaned = []
    for entry in entries:
        value = netguard.allowlist_entry_validate(entry)
        if value not in cleaned:
            cleaned.append(value)
    key = settings.TASKFLOW["HTTP_ALLOWLIST_SETTING"]
    before = allowlist_stored()
    with transaction.atomic():
        Setting.objects.update_or_create(key=key, defaults={"value": {"entries": cleaned}})
        changes = audit_changes({"entries": before}, {"entries": cleaned})
        if changes:
            audit_record(action=AuditAction.UPDATE, obj_type="setting", obj_id=key, changes=changes)
    return cleaned
