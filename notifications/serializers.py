"""SMTP settings serializers: the password is write-only and never returned (E12)."""

from __future__ import annotations

import re

from rest_framework import serializers

from taskflow_site.lib.api import Input

HOSTNAME = re.compile(r"^[A-Za-z0-9.\-:\[\]]*\Z")


class SmtpSettingsInput(Input):
    """PUT /api/settings/smtp: keys left out stay as they are. The password is write-only:
    omitted or "" keeps the stored one, `clear_password: true` removes it."""

    server = serializers.CharField(max_length=255, required=False, allow_blank=True)
    port = serializers.IntegerField(min_value=1, max_value=65535, required=False)
    username = serializers.CharField(max_length=255, required=False, allow_blank=True)
    password = serializers.CharField(
        max_length=1024, required=False, allow_blank=True, trim_whitespace=False, write_only=True
    )
    clear_password = serializers.BooleanField(required=False)
    use_tls = serializers.BooleanField(required=False)
    use_ssl = serializers.BooleanField(required=False, help_text="Implicit TLS (port 465).")
    from_email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    timeout = serializers.FloatField(min_value=1, max_value=120, required=False)

    def validate_server(self, value):
        if not HOSTNAME.match(value):
            raise serializers.ValidationError("Must be a host name or IP address.")
        return value

    def validate_username(self, value):
        if any(char in value for char in "\r\n\x00"):
            raise serializers.ValidationError("Must be a single line.")
        return value


class SmtpSettingsOutput(serializers.Serializer):
    server = serializers.CharField()
    port = serializers.IntegerField()
    username = serializers.CharField()
    use_tls = serializers.BooleanField()
    use_ssl = serializers.BooleanField()
    from_email = serializers.CharField()
    timeout = serializers.FloatField()
    hasPassword = serializers.BooleanField(help_text="The password itself is never returned.")


SmtpSettingsInput.echo_of = SmtpSettingsOutput  # a PUT of what GET returned


class SmtpTestInput(Input):
    to = serializers.EmailField(max_length=254)


class SmtpTestOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField(allow_blank=True)


def smtp_output(values: dict) -> dict:
    """What the API shows of SMTP settings: everything but the password."""
    has_password = values.get("hasPassword", values.get("has_password"))
    if has_password is None:
        has_password = bool(values.get("password"))
    return SmtpSettingsOutput(
        {
            "server": values.get("server") or "",
            "port": values.get("port") or 0,
            "username": values.get("username") or "",
            "use_tls": bool(values.get("use_tls")),
            "use_ssl": bool(values.get("use_ssl")),
            "timeout": float(values.get("timeout") or 0),
            "from_email": values.get("from_email") or "",
            "hasPassword": bool(has_password),
        }
    ).data
