"""/api/settings/smtp and /api/settings/smtp/test."""

from django.urls import path

from notifications import api

urlpatterns = [
    path("settings/smtp", api.SmtpSettingsApi.as_view(), name="settings-smtp"),
    path("settings/smtp/test", api.SmtpTestApi.as_view(), name="settings-smtp-test"),
]
