"""User workflows: creation, first-run setup, tokens and revocation."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import Role, Setting, User

SETUP_DONE_KEY = "setup.completed"


class SetupClosed(Exception):
    """The first admin exists already; setup never runs twice."""


def setup_needed() -> bool:
    return not User.objects.exists()


def user_create(*, username: str, password: str, email: str = "", role: str = Role.USER) -> User:
    """Create an active user; raises django ValidationError for a weak password or bad role."""
    if role not in Role.values:
        raise ValidationError({"role": [f"Role must be one of {', '.join(Role.values)}."]})
    user = User(username=username, email=email or "", role=role)
    validate_password(password, user)
    user.set_password(password)
    user.is_staff = True  # every user may use the admin; querysets limit what they see
    user.is_superuser = role == Role.ADMIN
    user.full_clean(exclude=["password"])
    user.save()
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


def token_pair_for(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    refresh["role"] = user.role
    access = refresh.access_token
    access["role"] = user.role
    return {"access": str(access), "refresh": str(refresh)}


def user_revoke_tokens(*, user: User) -> None:
    """Refuse every token issued to `user` up to now (password change, deactivation)."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    now = timezone.now()
    User.objects.filter(pk=user.pk).update(tokens_valid_after=now)
    user.tokens_valid_after = now
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
