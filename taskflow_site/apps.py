"""The admin's AppConfig: loaded with the apps, before any model, so it names the site lazily."""

from django.contrib.admin.apps import AdminConfig
from django.db.backends.signals import connection_created

from taskflow_site.lib.private import sqlite_connected


class TaskFlowAdminConfig(AdminConfig):
    """Makes TaskFlowAdminSite `admin.site`, so every app's admin.py registers on it; keeps
    the SQLite file the server's alone (taskflow_site.lib.private)."""

    default_site = "taskflow_site.admin_site.TaskFlowAdminSite"

    def ready(self):
        super().ready()
        connection_created.connect(sqlite_connected, dispatch_uid="taskflow.sqlite_private")
