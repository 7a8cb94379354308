"""Users with a role (admin | user), token revocation, and the key/value settings table."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    USER = "user", "User"


class User(AbstractUser):
    """A person who logs in. `role` is the source of truth for RBAC.

    `is_staff` is kept true for active users so they can use the admin (which scopes what they
    see); `is_superuser` mirrors role == admin. Services keep them in step, never save().
    `tokens_valid_after`: every JWT issued before this instant is refused (password change,
    deactivation, "log out everywhere").
    """

    role = models.CharField(max_length=10, choices=Role.choices, default=Role.USER)
    email = models.EmailField(blank=True)
    tokens_valid_after = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    class Meta:
        ordering = ["username"]

    @property
    def is_admin(self) -> bool:
        return self.is_active and self.role == Role.ADMIN


class RevokedToken(models.Model):
    """An access token's jti refused until it would have expired anyway (logout)."""

    jti = models.CharField(max_length=64, primary_key=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.jti


class Setting(models.Model):
    """Application settings edited at run time (SMTP, allowlists); env values are defaults."""

    key = models.CharField(max_length=100, primary_key=True)
    value = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key
