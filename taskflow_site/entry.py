"""The front doors: `/` and `/dashboard` (LocalFlow's address for it) lead to the home page, or
to /setup while no user exists; `/api/` answers with an index of the API."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import redirect
from django.urls import URLPattern, URLResolver
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from taskflow_site import api_urls
from taskflow_site.admin_site import setup_first
from taskflow_site.lib.api import envelope

METHODS = ("get", "post", "put", "patch", "delete")


def home_redirect(request):
    return redirect("setup" if setup_first() else "admin:index")


def _route(pattern) -> str:
    """A URL pattern's route with converters written as {name}: jobs/<uuid:pk> -> jobs/{pk}."""
    route = str(pattern.pattern)
    while "<" in route:
        start, end = route.index("<"), route.index(">")
        name = route[start + 1 : end].split(":")[-1]
        route = f"{route[:start]}{{{name}}}{route[end + 1 :]}"
    return route


def api_endpoints(patterns=None, prefix: str = "/api/") -> list[dict]:
    """Every route under /api/ with its name and methods, in the order the URLconf lists them."""
    if patterns is None:
        patterns = api_urls.urlpatterns
    endpoints = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            endpoints += api_endpoints(pattern.url_patterns, prefix + _route(pattern))
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "view_class", None)
            methods = [m.upper() for m in METHODS if view is not None and hasattr(view, m)]
            if not methods:
                continue
            endpoints.append(
                {"path": prefix + _route(pattern), "name": pattern.name, "methods": methods}
            )
    return endpoints


class ApiIndexOutput(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    schema = serializers.CharField(help_text="OpenAPI 3.")
    docs = serializers.CharField(help_text="Swagger UI.")
    endpoints = serializers.ListField(child=serializers.DictField())


class ApiIndex(APIView):
    """GET /api/: where to start (no sign-in needed: it lists paths, never data)."""

    permission_classes = [AllowAny]

    @extend_schema(responses=ApiIndexOutput, tags=["meta"])
    def get(self, request):
        return envelope(
            {
                "name": "TaskFlow API",
                "version": settings.VERSION,
                "schema": "/api/schema/",
                "docs": "/api/docs/",
                "endpoints": api_endpoints(),
            }
        )
