"""/api/jobs/:id/metrics, /api/runs/:id/metrics, /api/dashboard/stats."""

from django.urls import path

from metrics import api

urlpatterns = [
    path("jobs/<uuid:pk>/metrics", api.JobMetricsApi.as_view(), name="job-metrics"),
    path("runs/<uuid:pk>/metrics", api.RunMetricsApi.as_view(), name="run-metrics"),
    path("dashboard/stats", api.DashboardStatsApi.as_view(), name="dashboard-stats"),
]
