"""WebSocket routes (the live log and dashboard consumers register here)."""

websocket_urlpatterns: list = []
