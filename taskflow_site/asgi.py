"""ASGI entry point: Django for HTTP, Channels for WebSockets (Origin checked exactly, unknown
paths a 404: taskflow_site.wsguard)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskflow_site.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from taskflow_site.routing import websocket_urlpatterns  # noqa: E402
from taskflow_site.wsguard import OriginGuard, socket_not_found  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginGuard(
            AuthMiddlewareStack(URLRouter([*websocket_urlpatterns, re_path(r"", socket_not_found)]))
        ),
    }
)
