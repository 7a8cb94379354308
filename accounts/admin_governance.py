"""Admin pages for API tokens (create one and see its secret once, revoke) and the audit trail
(read-only lists with filters, and the change history of an object read from it)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.apitokens import api_token_create, api_token_revoke, api_token_scopes_allowed
from accounts.models import ApiToken, AuditEntry, Scope, User
from taskflow_site.lib.admin import RoleScopedAdmin, time_tag


class AuditHistoryMixin:
    """The object's "History" page lists its audit entries instead of Django's LogEntry rows,
    so changes made through the API, the CLI and the engine show as well as the admin's."""

    def audit_history_filter(self, obj) -> Q:
        return Q(object_type=self.model._meta.model_name, object_id=str(obj.pk))

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, object_id)  # 404 outside the viewer's scope
        if not self.has_view_or_change_permission(request, obj):
            return super().history_view(request, object_id, extra_context)
        entries = (
            AuditEntry.objects.filter(self.audit_history_filter(obj))
            .select_related("token")
            .order_by("-at", "-id")[:500]
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change history: {obj}",
            "subtitle": None,
            "object": obj,
            "opts": self.model._meta,
            "module_name": str(self.model._meta.verbose_name_plural).capitalize(),
            "entries": entries,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/audit_history.html", context)


def changes_html(entry: AuditEntry):
    if not entry.changes:
        return "—"
    return format_html_join(
        "",
        "<div><code>{}</code>: {}</div>",
        (
            (
                field,
                value if isinstance(value, str) else f"{value.get('from')!r} → {value.get('to')!r}",
            )
            for field, value in entry.changes.items()
        ),
    )


@admin.register(AuditEntry)
class AuditEntryAdmin(RoleScopedAdmin):
    """Append-only: nobody adds, edits or deletes entries here (retention removes old ones)."""

    list_display = ["when", "actor_name", "action", "surface", "object_type", "object_repr", "ip"]
    list_filter = ["action", "surface", "object_type", "at"]
    search_fields = ["actor_name", "object_repr", "object_id"]
    date_hierarchy = "at"
    list_select_related = ["token"]
    show_full_result_count = False
    actions = None
    fields = [
        "at",
        "action",
        "actor_name",
        "token",
        "surface",
        "ip",
        "object_type",
        "object_id",
        "object_repr",
        "job_id",
        "change_list",
    ]
    readonly_fields = fields

    @admin.display(description="When", ordering="at")
    def when(self, entry):
        return time_tag(entry.at)

    @admin.display(description="Changes")
    def change_list(self, entry):
        return changes_html(entry)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ApiTokenAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every scope the owner may hold. Admin: admins' tokens only.",
    )

    class Meta:
        model = ApiToken
        fields = ["name", "user", "scopes", "expires_at"]

    def clean(self):
        data = super().clean()
        owner = data.get("user")
        scopes = data.get("scopes") or []
        if owner is not None and any(s not in api_token_scopes_allowed(owner) for s in scopes):
            self.add_error("scopes", "The admin scope is only for admins' tokens.")
        expires_at = data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            self.add_error("expires_at", "The expiry must be in the future.")
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(RoleScopedAdmin):
    """Everyone manages their own tokens; admins everyone's. A token's secret is shown once,
    on the page that follows its creation; afterwards only its prefix."""

    form = ApiTokenAddForm
    list_display = ["name", "user", "prefix", "scope_list", "expires", "last_used", "state"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    actions = ["revoke_tokens"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "last_used_ip", "revoked_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "user", "scopes", "expires_at"]
        return ["name", "user", "prefix", "scopes", "expires_at", *self.readonly_fields[1:]]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        owner = form.base_fields.get("user")
        if owner is not None:
            if self.is_admin(request):
                owner.queryset = User.objects.filter(is_active=True)
            else:
                owner.queryset = User.objects.filter(pk=request.user.pk)
            owner.initial = request.user.pk
            for flag in ("can_add_related", "can_change_related", "can_delete_related"):
                setattr(owner.widget, flag, False)
        return form

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the audit trail names tokens

    def save_model(self, request, obj, form, change):
        token, secret = api_token_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data.get("scopes") or None,
            expires_at=form.cleaned_data.get("expires_at"),
        )
        obj.pk = token.pk
        obj._state.adding = False
        obj.secret_shown_once = secret

    def save_related(self, request, form, formsets, change):
        pass

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "title": "API token created",
            "token": ApiToken.objects.select_related("user").get(pk=obj.pk),
            "secret": obj.secret_shown_once,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/accounts/apitoken/created.html", context)

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request, queryset):
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token)
            count += 1
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)

    @admin.display(description="Scopes")
    def scope_list(self, token):
        return ", ".join(token.scopes)

    @admin.display(description="Expires", ordering="expires_at")
    def expires(self, token):
        return time_tag(token.expires_at) if token.expires_at else "never"

    @admin.display(description="Last used", ordering="last_used_at")
    def last_used(self, token):
        if token.last_used_at is None:
            return "never"
        return format_html("{} from {}", time_tag(token.last_used_at), token.last_used_ip or "?")

    @admin.display(description="State")
    def state(self, token):
        if token.revoked_at:
            return "revoked"
        if token.expires_at and token.expires_at <= timezone.now():
            return "expired"
        return "active"
