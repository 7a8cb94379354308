"""/api/metrics, /api/jobs/:id/metrics and /activity, /api/runs/:id/metrics, /api/dashboard/*."""

from django.urls import path

from metrics import api

urlpatterns = [
    path("metrics", api.JobsMetricsApi.as_view(), name="jobs-metrics"),
    path("jobs/<uuid:pk>/metrics", api.JobMetricsApi.as_view(), name="job-metrics"),
    path("runs/<uuid:pk>/metrics", api.RunMetricsApi.as_view(), name="run-metrics"),
    path("dashboard/stats", api.DashboardStatsApi.as_view(), name="dashboard-stats"),
    path("dashboard/upcoming", api.UpcomingJobsApi.as_view(), name="dashboard-upcoming"),
    path("dashboard/activity", api.DashboardActivityApi.as_view(), name="dashboard-activity"),
    path("jobs/<uuid:pk>/activity", api.JobActivityApi.as_view(), name="job-activity"),
]
