"""/api/runs, the trigger /api/jobs/<id>/run, and LocalFlow's /api/tasks."""

from django.urls import path

from runs import api

urlpatterns = [
    path("jobs/<uuid:pk>/run", api.JobRunApi.as_view(), name="job-run"),
    path("runs", api.RunListApi.as_view(), name="run-list"),
    path("runs/<uuid:pk>", api.RunDetailApi.as_view(), name="run-detail"),
    path("runs/<uuid:pk>/cancel", api.RunCancelApi.as_view(), name="run-cancel"),
    path("runs/<uuid:pk>/rerun", api.RunRerunApi.as_view(), name="run-rerun"),
    path("runs/<uuid:pk>/logs", api.RunLogsApi.as_view(), name="run-logs"),
    path("runs/<uuid:pk>/logs/download", api.RunLogDownloadApi.as_view(), name="run-logs-download"),
    path("tasks", api.TaskCreateApi.as_view(), name="task-create"),
    path("tasks/<uuid:pk>", api.TaskDetailApi.as_view(), name="task-detail"),
]
