"""Input and output serializers for setup, auth, the users API, API tokens and the audit trail
(separate by direction)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import AuditAction, Role, Scope
from taskflow_site.lib.api import Input, PageQuery

USERNAME_REGEX = r"^[\w.@+-]+\Z"


class SetupAdminInput(Input):
    username = serializers.RegexField(USERNAME_REGEX, max_length=150)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    # optional, no default: "" would be an invalid `format: email` default in the schema (the
    # service defaults a missing address to "")
    email = serializers.EmailField(required=False, allow_blank=True)


class SetupStatusOutput(serializers.Serializer):
    needsSetup = serializers.BooleanField()


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
    is_active = serializers.BooleanField()
    lastLogin = serializers.DateTimeField(source="last_login", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserOutput()


class LoginInput(Input):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class RefreshInput(Input):
    refresh = serializers.CharField(max_length=4096)


class RefreshOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LogoutInput(Input):
    refresh = serializers.CharField(max_length=4096, required=False, allow_blank=True)


class LogoutOutput(serializers.Serializer):
    loggedOut = serializers.BooleanField()


class PasswordChangeInput(Input):
    current_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class TicketOutput(serializers.Serializer):
    ticket = serializers.CharField()
    expiresIn = serializers.IntegerField()


class UserCreateInput(Input):
    username = serializers.RegexField(USERNAME_REGEX, max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)  # as above
    role = serializers.ChoiceField(choices=Role.choices, default=Role.USER)


class UserUpdateInput(Input):
    echo_of = UserOutput  # a PUT of what GET returned: id, lastLogin, createdAt ignored

    username = serializers.RegexField(USERNAME_REGEX, max_length=150, required=False)
    password = serializers.CharField(max_length=128, trim_whitespace=False, required=False)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = serializers.BooleanField(required=False)


class UserListOutput(serializers.Serializer):
    users = UserOutput(many=True)
    total = serializers.IntegerField()


class DeletedOutput(serializers.Serializer):
    id = serializers.CharField()
    deleted = serializers.BooleanField()


def user_summary(user) -> dict:
    return UserOutput(user).data


# ---- API tokens ----


class ApiTokenInput(Input):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices),
        required=False,
        allow_empty=True,
        max_length=len(Scope.values),
        help_text="Empty or left out: every scope the owner may hold.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    user = serializers.CharField(
        max_length=150, required=False, help_text="Admins only: the owner (username or id)."
    )


class ApiTokenOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The token's first characters, to recognise it.")
    user = serializers.CharField(source="user.username")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices))
    expires_at = serializers.DateTimeField(allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    lastUsedAt = serializers.DateTimeField(source="last_used_at", allow_null=True)
    lastUsedIp = serializers.CharField(source="last_used_ip", allow_null=True)
    revokedAt = serializers.DateTimeField(source="revoked_at", allow_null=True)


class ApiTokenCreatedOutput(ApiTokenOutput):
    token = serializers.CharField(help_text="The secret: shown in this response only.")


class ApiTokenListOutput(serializers.Serializer):
    tokens = ApiTokenOutput(many=True)
    total = serializers.IntegerField()


# ---- audit trail ----


class AuditQuery(PageQuery):
    action = serializers.ChoiceField(choices=AuditAction.choices, required=False)
    object_id = serializers.CharField(max_length=64, required=False)
    object_type = serializers.CharField(max_length=30, required=False)


class AuditTokenOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class AuditEntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=AuditAction.choices)
    actor = serializers.CharField(source="actor_name", help_text="Username, or system.")
    token = AuditTokenOutput(allow_null=True, help_text="The API token the actor used.")
    surface = serializers.CharField()
    objectType = serializers.CharField(source="object_type")
    objectId = serializers.CharField(source="object_id")
    object = serializers.CharField(source="object_repr")
    changes = serializers.DictField(
        help_text='Field -> {"from", "to"}; a secret shows "changed" instead of its values.'
    )
    at = serializers.DateTimeField()
    ip = serializers.CharField(allow_null=True)


class AuditListOutput(serializers.Serializer):
    entries = AuditEntryOutput(many=True)
    total = serializers.IntegerField()
