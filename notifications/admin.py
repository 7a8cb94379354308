"""Admin: the notification log (read-only) and the SMTP / HTTP-allowlist settings page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts import services as account_services
from notifications.delivery import notifications_redeliver
from notifications.models import Notification, SmtpSettings
from notifications.smtp import (
    SmtpSettingsError,
    smtp_send_test,
    smtp_settings_get,
    smtp_settings_update,
)


def _is_admin(request) -> bool:
    return bool(getattr(request.user, "is_admin", False))


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """What was sent, failed or suppressed, per run; admins see all, users their jobs'."""

    list_display = [
        "created_at",
        "job",
        "run_link",
        "channel",
        "target",
        "status",
        "attempts",
        "reason",
        "sent_at",
    ]
    list_filter = ["channel", "status", "created_at"]
    search_fields = ["target", "job__name", "reason", "error"]
    list_select_related = ["job", "run"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "run",
        "job",
        "channel",
        "target",
        "status",
        "reason",
        "attempts",
        "error",
        "created_at",
        "sent_at",
    ]
    show_full_result_count = False  # no COUNT(*) over a long history
    actions = ["redeliver"]

    @admin.action(description="Deliver the selected failed notifications again")
    def redeliver(self, request, queryset):
        count = notifications_redeliver(queryset=queryset)
        self.message_user(request, f"{count} failed notification(s) queued for delivery.")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not _is_admin(request):
            actions.pop("redeliver", None)
        return actions

    @admin.display(description="run")
    def run_link(self, obj: Notification):
        url = reverse("admin:runs_run_change", args=[obj.run_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.run_id)[:8])

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if _is_admin(request):
            return queryset
        return queryset.filter(job__created_by=request.user)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SmtpSettingsForm(forms.Form):
    server = forms.CharField(required=False, max_length=253, help_text="Empty disables mail.")
    port = forms.IntegerField(min_value=1, max_value=65535)
    username = forms.CharField(required=False, max_length=254)
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the stored password.",
    )
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")
    use_tls = forms.BooleanField(required=False, label="STARTTLS")
    use_ssl = forms.BooleanField(required=False, label="Implicit TLS (port 465)")
    from_email = forms.CharField(required=False, max_length=254, label="From address")
    timeout = forms.FloatField(min_value=1, max_value=120, help_text="Seconds.")


class TestMailForm(forms.Form):
    to = forms.CharField(max_length=254, label="Send a test mail to")


class AllowlistForm(forms.Form):
    entries = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 50}),
        label="HTTP allowlist",
        help_text=(
            "One host name (or *.domain) or IP network per line. HTTP jobs and webhooks may reach "
            "these even though they are private, loopback or link-local."
        ),
    )


@admin.register(SmtpSettings)
class SmtpSettingsAdmin(admin.ModelAdmin):
    """A settings page, not a list: the changelist renders the SMTP form. Admin role only."""

    def has_module_permission(self, request):
        return _is_admin(request)

    def has_view_permission(self, request, obj=None):
        return _is_admin(request)

    def has_change_permission(self, request, obj=None):
        return _is_admin(request)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not _is_admin(request):
            raise PermissionDenied
        current = smtp_settings_get()
        settings_form = SmtpSettingsForm(initial=current)
        test_form = TestMailForm(initial={"to": request.user.email})
        allowlist_form = AllowlistForm(
            initial={"entries": "\n".join(account_services.allowlist_stored())}
        )
        if request.method == "POST":
            action = request.POST.get("action")
            if action == "save":
                settings_form = SmtpSettingsForm(request.POST)
                if settings_form.is_valid() and self._save(request, settings_form):
                    return redirect(request.path)
            elif action == "test":
                test_form = TestMailForm(request.POST)
                if test_form.is_valid():
                    result = smtp_send_test(to=test_form.cleaned_data["to"])
                    level = messages.SUCCESS if result["ok"] else messages.ERROR
                    verdict = "Test mail sent" if result["ok"] else "Test mail failed"
                    self.message_user(request, f"{verdict}: {result['message']}", level)
                    return redirect(request.path)
            elif action == "allowlist":
                allowlist_form = AllowlistForm(request.POST)
                if allowlist_form.is_valid():
                    lines = allowlist_form.cleaned_data["entries"].splitlines()
                    try:
                        account_services.allowlist_update(
                            entries=[ln for ln in lines if ln.strip()]
                        )
                    except ValueError as exc:
                        allowlist_form.add_error("entries", str(exc))
                    else:
                        self.message_user(request, "HTTP allowlist saved.", messages.SUCCESS)
                        return redirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": "SMTP settings",
            "opts": self.model._meta,
            "current": current,
            "settings_form": settings_form,
            "test_form": test_form,
            "allowlist_form": allowlist_form,
            "env_allowlist": netguard_env_allowlist(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/notifications/smtp_settings.html", context)

    def _save(self, request, form: SmtpSettingsForm) -> bool:
        data = dict(form.cleaned_data)
        if not data.get("password"):
            data.pop("password", None)  # write-only: empty keeps the stored one
        try:
            smtp_settings_update(data=data)
        except SmtpSettingsError as exc:
            for field, errors in exc.errors.items():
                target = field if field in form.fields else None
                for error in errors:
                    form.add_error(target, error)
            return False
        self.message_user(request, "SMTP settings saved.", messages.SUCCESS)
        return True


def netguard_env_allowlist() -> list[str]:
    return list(settings.TASKFLOW["HTTP_ALLOWLIST"])
