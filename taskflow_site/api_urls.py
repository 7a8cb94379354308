"""Everything under /api/: one include per app (each app's urls.py holds its API routes)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from taskflow_site.lib.api import ApiDocsView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("", include("accounts.urls")),
    path("", include("jobs.urls")),
    path("", include("runs.urls")),
    path("", include("metrics.urls")),
    path("", include("notifications.urls")),
]
