"""Users with a role (admin | user), token revocation, API tokens, the audit trail, and the
key/value settings table."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from accounts.seams import audit_scope_wanted


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
        constraints = [
            # "Admin" and "admin" would be two accounts one person cannot tell apart
            models.UniqueConstraint(
                Lower("username"),
                name="user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            )
        ]

    @property
    def is_admin(self) -> bool:
        # an API token without the admin scope makes its admin owner a user for that request
        # (accounts.authentication): a token acts with its owner's role and never more
        withheld = getattr(self, "admin_withheld", False)
        return self.is_active and self.role == Role.ADMIN and not withheld


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


class Scope(models.TextChoices):
    """What an API token may do: read = safe methods, run = trigger/cancel/re-run, write =
    every other change, admin = what only admins may do (admin owners only)."""

    READ = "read", "Read"
    RUN = "run", "Run"
    WRITE = "write", "Write"
    ADMIN = "admin", "Admin"


class ApiTokenQuerySet(models.QuerySet):
    def visible_to(self, user) -> ApiTokenQuerySet:
        """Admins see every token; users their own."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        return self if user.is_admin else self.filter(user=user)


class ApiToken(models.Model):
    """A named bearer token for scripts. Only the SHA-256 of the secret is stored: the secret
    is shown once, at creation (accounts.apitokens)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)  # "tf_" and a few characters, to recognise it
    digest = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def usable(self, now) -> bool:
        expired = self.expires_at is not None and self.expires_at <= now
        return self.revoked_at is None and not expired and self.user.is_active


class AuditAction(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    RUN = "run", "Run"
    CANCEL = "cancel", "Cancel"
    RERUN = "rerun", "Re-run"
    ENABLE = "enable", "Enable"
    DISABLE = "disable", "Disable"
    LOGIN = "login", "Login"
    LOGIN_FAILED = "login_failed", "Failed login"
    LOGOUT = "logout", "Logout"
    PASSWORD_CHANGE = "password_change", "Password change"
    TOKEN_CREATE = "token_create", "Token created"
    TOKEN_REVOKE = "token_revoke", "Token revoked"
    SMTP_CHANGE = "smtp_change", "SMTP change"
    IMPORT = "import", "Import"


class Surface(models.TextChoices):
    """Where an action came from."""

    API = "api", "API"
    ADMIN = "admin", "Admin"
    CLI = "cli", "Command line"
    SETUP = "setup", "Setup"
    SSO = "sso", "Single sign-on"
    ENGINE = "engine", "Engine"
    SYSTEM = "system", "System"


class AuditQuerySet(models.QuerySet):
    """Append-only: rows are added by accounts.audit.audit_record and removed only by the
    retention (audit_prune); bulk updates and deletes through the ORM are refused."""

    def visible_to(self, user) -> AuditQuerySet:
        """Admins read everything; users what they did, what was done to them or their
        tokens, and what the layers above add (entries about their own jobs)."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_admin:
            return self
        scope = Q(actor=user) | Q(subject_user=user)
        for _receiver, extra in audit_scope_wanted.send(sender=AuditEntry, user=user):
            if extra is not None:
                scope |= extra
        return self.filter(scope)

    def update(self, **kwargs):
        raise PermissionError("audit entries are append-only")

    def delete(self):
        raise PermissionError("audit entries are append-only (retention prunes them)")


class AuditEntry(models.Model):
    """One change or action: who (a user, through a token, or the system), when, from which
    address and surface, on what, and for updates the field-level diff (secrets as
    "changed"). `job_id` and `subject_user` say whom the entry concerns, for visibility."""

    at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150)  # kept when the user is deleted
    token = models.ForeignKey(
        ApiToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    surface = models.CharField(max_length=10, choices=Surface.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    object_type = models.CharField(max_length=30)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    job_id = models.UUIDField(null=True, blank=True, db_index=True)
    subject_user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changes = models.JSONField(default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["actor", "at"], name="audit_actor_idx"),
            models.Index(fields=["subject_user", "at"], name="audit_subject_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.object_type} {self.object_repr}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit entries are append-only")
