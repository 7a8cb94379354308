"""Everything under /api/: one include per app (each app's urls.py holds its API routes)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]
