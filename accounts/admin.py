"""Users and settings (administrators only), API tokens (everyone their own) and the audit trail
(read-only for everyone: admins all of it, users what concerns them)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from django.core.exceptions import ValidationError

from accounts import services
from accounts.admin_governance import AuditHistoryMixin
from accounts.audit import audit_user
from accounts.models import AuditAction, Role, Setting, User
from taskflow_site.lib.admin import RoleScopedAdmin, time_tag


class UserAddForm(UserCreationForm):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.USER)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class UserEditForm(UserChangeForm):
    """Refuses to demote or deactivate the last active admin (accounts.services rule)."""

    def clean(self):
        data = super().clean()
        user = self.instance
        stays_admin = data.get("role", user.role) == Role.ADMIN and data.get(
            "is_active", user.is_active
        )
        if user.is_admin and not stays_admin and services.user_is_last_active_admin(user=user):
            raise ValidationError("This is the last active admin; promote another user first.")
        return data


class PasswordSetForm(AdminPasswordChangeForm):
    """An admin-set password is recorded; saving it revokes every token of that user, as any
    password change does (accounts.services.password_change_revokes)."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        audit_user(AuditAction.PASSWORD_CHANGE, user)
        return user


@admin.register(User)
class UserAdmin(AuditHistoryMixin, RoleScopedAdmin, BaseUserAdmin):
    admin_only = True
    user_can_change = False
    add_form = UserAddForm
    form = UserEditForm
    change_password_form = PasswordSetForm
    actions = None  # bulk delete would bypass the last-admin rule
    list_display = ["username", "email", "role", "is_active", "last_seen"]
    list_filter = ["role", "is_active"]
    search_fields = ["username", "email"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("role", "is_active")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "role", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ["last_login", "date_joined"]

    @admin.display(description="Last login", ordering="last_login")
    def last_seen(self, user):
        return time_tag(user.last_login)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_admin and services.user_is_last_active_admin(user=obj):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            created = services.user_create(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                email=form.cleaned_data.get("email") or "",
                role=form.cleaned_data["role"],
            )
            obj.pk = created.pk
            obj._state.adding = False
            return
        changed = set(form.changed_data)
        try:
            services.user_update(
                user=obj,
                username=obj.username if "username" in changed else None,
                email=obj.email if "email" in changed else None,
                role=obj.role if "role" in changed else None,
                is_active=obj.is_active if "is_active" in changed else None,
            )
        except services.LastAdmin:  # lost a race with another admin's edit
            messages.error(request, "Not saved: this is the last active admin.")
            return
        User.objects.filter(pk=obj.pk).update(first_name=obj.first_name, last_name=obj.last_name)


@admin.register(Setting)
class SettingAdmin(RoleScopedAdmin):
    """Read-only: SMTP and the HTTP allowlist are edited on their validated pages."""

    admin_only = True
    list_display = ["key", "updated"]
    search_fields = ["key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, setting):
        return time_tag(setting.updated_at)
