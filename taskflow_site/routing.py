"""WebSocket routes (the live log and dashboard consumers register here)."""

from django.urls import path

from runs.consumers import DashboardConsumer, RunLogConsumer

websocket_urlpatterns: list = [
    path("api/runs/<uuid:run_id>/logs/live", RunLogConsumer.as_asgi()),
    path("ws/dashboard", DashboardConsumer.as_asgi()),
]
