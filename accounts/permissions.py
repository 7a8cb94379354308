"""RBAC for views; object-level access is a queryset (`visible_to`), not a permission class."""

from __future__ import annotations

from rest_framework.permissions import BasePermission


class IsAdmin(BasePermission):
    """Admin-only collections (users, SMTP, system settings, LocalFlow tasks): 403 for users."""

    message = "Only admins may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "is_admin", False))
