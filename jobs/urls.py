"""/api/jobs, /api/schedules (LocalFlow), /api/timezones and /api/settings/timezone."""

from django.urls import path

from jobs import api, import_api, webhook_api

urlpatterns = [
    path("jobs", api.JobListApi.as_view(), name="job-list"),
    path("jobs/preview", api.SchedulePreviewApi.as_view(), name="job-schedule-preview"),
    path("jobs/import", import_api.JobImportApi.as_view(), name="job-import"),
    path("jobs/<uuid:pk>", api.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:pk>/enable", api.JobEnableApi.as_view(), name="job-enable"),
    path("jobs/<uuid:pk>/disable", api.JobDisableApi.as_view(), name="job-disable"),
    path("jobs/<uuid:pk>/preview", api.JobPreviewApi.as_view(), name="job-preview"),
    path(
        "jobs/<uuid:pk>/webhook-secret",
        webhook_api.JobWebhookSecretApi.as_view(),
        name="job-webhook-secret",
    ),
    path("schedules", api.ScheduleTaskListApi.as_view(), name="schedule-list"),
    path("schedules/<uuid:pk>", api.ScheduleTaskDetailApi.as_view(), name="schedule-detail"),
    path("timezones", api.TimezoneListApi.as_view(), name="timezone-list"),
    path("settings/timezone", api.ServerTimezoneApi.as_view(), name="settings-timezone"),
]
