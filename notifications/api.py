"""Admin-only SMTP settings and test mail, over notifications.smtp."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from accounts.permissions import IsAdmin
from notifications import smtp
from notifications.serializers import (
    SmtpSettingsInput,
    SmtpSettingsOutput,
    SmtpTestInput,
    SmtpTestOutput,
    smtp_output,
)
from taskflow_site.lib.api import envelope


class SmtpSettingsApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=SmtpSettingsOutput, tags=["settings"])
    def get(self, request):
        return envelope(smtp_output(smtp.smtp_settings_get()))

    @extend_schema(request=SmtpSettingsInput, responses=SmtpSettingsOutput, tags=["settings"])
    def put(self, request):
        serializer = SmtpSettingsInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            values = smtp.smtp_settings_update(data=dict(serializer.validated_data))
        except smtp.SmtpSettingsError as exc:
            raise ValidationError(exc.errors) from None
        return envelope(smtp_output(values))


class SmtpTestApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(request=SmtpTestInput, responses=SmtpTestOutput, tags=["settings"])
    def post(self, request):
        serializer = SmtpTestInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = smtp.smtp_send_test(to=serializer.validated_data["to"])
        return envelope(
            SmtpTestOutput(
                {"ok": bool(result.get("ok")), "message": result.get("message", "")}
            ).data
        )
