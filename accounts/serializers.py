"""Input and output serializers for setup, auth and the users API (separate by direction)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import Role

USERNAME_REGEX = r"^[\w.@+-]+\Z"


class SetupAdminInput(serializers.Serializer):
    username = serializers.RegexField(USERNAME_REGEX, max_length=150)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True, default="")


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


class LoginInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class RefreshOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LogoutInput(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096, required=False, allow_blank=True)


class LogoutOutput(serializers.Serializer):
    loggedOut = serializers.BooleanField()


class PasswordChangeInput(serializers.Serializer):
    current_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class TicketOutput(serializers.Serializer):
    ticket = serializers.CharField()
    expiresIn = serializers.IntegerField()


class UserCreateInput(serializers.Serializer):
    username = serializers.RegexField(USERNAME_REGEX, max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.USER)


class UserUpdateInput(serializers.Serializer):
    username = serializers.RegexField(USERNAME_REGEX, max_length=150, required=False)
    password = serializers.CharField(max_length=128, trim_whitespace=False, required=False)
    email = serializers.EmailField(required=False, allow_blank=True)
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
