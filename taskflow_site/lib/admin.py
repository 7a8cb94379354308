"""Admin base classes and display helpers shared by every app's admin.py."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.db import DataError
from django.http import Http404
from django.utils.html import format_html

from taskflow_site.lib.formatting import bytes_text, duration_text

__all__ = [
    "LookupGuard",
    "RoleScopedAdmin",
    "bytes_text",
    "duration_text",
    "status_badge",
    "time_tag",
]


class LookupGuard:
    """A changelist filter the database cannot take (`?job=notuuid`, `?at__year=99999999999`,
    an id past 64 bits) is the admin's "invalid lookup" answer (a redirect to ?e=1), never a
    server error. The admin site mixes this into every model admin it registers."""

    def get_changelist_instance(self, request):
        try:  # ChangeList counts its rows on creation: a bad filter fails here, not later
            return super().get_changelist_instance(request)
        except (OverflowError, ValidationError, ValueError, DataError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class RoleScopedAdmin(admin.ModelAdmin):
    """RBAC for one model: admins manage everything; users see what `visible_to` allows.

    Users never add or delete; `user_can_change` says whether they may edit what they see;
    `admin_only` hides the model from users altogether. Objects outside the viewer's scope are
    a 404 (never the admin's "perhaps it was deleted" redirect, which admits nothing either but
    is not what the API does).
    """

    admin_only = False
    user_can_change = False

    @staticmethod
    def is_admin(request) -> bool:
        return bool(getattr(request.user, "is_admin", False))

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.is_admin(request):
            return queryset
        if self.admin_only:
            return queryset.none()
        return queryset.visible_to(request.user)

    def has_module_permission(self, request):
        return self.is_admin(request) or not self.admin_only

    def has_view_permission(self, request, obj=None):
        return self.is_admin(request) or not self.admin_only

    def has_change_permission(self, request, obj=None):
        return self.is_admin(request) or (self.user_can_change and not self.admin_only)

    def has_add_permission(self, request):
        return self.is_admin(request)

    def has_delete_permission(self, request, obj=None):
        return self.is_admin(request)

    def has_run_permission(self, request, obj=None):
        """Running (run now, cancel, re-run) is allowed on whatever the viewer can see."""
        return not self.admin_only or self.is_admin(request)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such object.")
        return obj


def time_tag(value):
    """A <time> the page's script shows in the viewer's zone; UTC text without script."""
    if not value:
        return "—"
    return format_html(
        '<time datetime="{}">{} UTC</time>', value.isoformat(), value.strftime("%Y-%m-%d %H:%M:%S")
    )


def status_badge(status: str, label: str | None = None):
    return format_html('<span class="tf-badge tf-{}">{}</span>', status, label or status)
