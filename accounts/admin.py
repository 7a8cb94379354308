"""Users and settings: administrators only (users never see either, not even the list)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserCreationForm

from accounts.models import Role, Setting, User
from taskflow_site.admin_site import RoleScopedAdmin, time_tag


class UserAddForm(UserCreationForm):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.USER)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")


@admin.register(User)
class UserAdmin(RoleScopedAdmin, BaseUserAdmin):
    admin_only = True
    user_can_change = False
    add_form = UserAddForm
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

    def save_model(self, request, obj, form, change):
        from accounts.services import user_create, user_revoke_tokens

        if not change:
            created = user_create(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                email=form.cleaned_data.get("email") or "",
                role=form.cleaned_data["role"],
            )
            obj.pk = created.pk
            obj._state.adding = False
            return
        # the role is the source of truth; keep Django's flags in step (accounts.models.User)
        obj.is_staff = obj.is_active
        obj.is_superuser = obj.role == Role.ADMIN
        obj.save()
        if "is_active" in form.changed_data and not obj.is_active:
            user_revoke_tokens(user=obj)


@admin.register(Setting)
class SettingAdmin(RoleScopedAdmin):
    admin_only = True
    list_display = ["key", "updated"]
    search_fields = ["key"]

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, setting):
        return time_tag(setting.updated_at)
