"""The admin's AppConfig: loaded with the apps, before any model, so it names the site lazily."""

from django.contrib.admin.apps import AdminConfig


class TaskFlowAdminConfig(AdminConfig):
    """Makes TaskFlowAdminSite `admin.site`, so every app's admin.py registers on it."""

    default_site = "taskflow_site.admin_site.TaskFlowAdminSite"
