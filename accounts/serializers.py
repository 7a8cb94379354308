from __future__ import annotations

from rest_framework import serializers


class SetupAdminInput(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class SetupStatusOutput(serializers.Serializer):
    needsSetup = serializers.BooleanField()


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = serializers.DictField()


def user_summary(user) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "role": user.role,
        "lastLogin": user.last_login.isoformat().replace("+00:00", "Z")
        if user.last_login
        else None,
    }
