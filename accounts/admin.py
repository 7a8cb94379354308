from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import Setting, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "email", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    fieldsets = (*BaseUserAdmin.fieldsets, ("TaskFlow", {"fields": ("role",)}))


@admin.register(Setting)
class SettingAdmin(admin.ModelAdmin):
    list_display = ["key", "updated_at"]
