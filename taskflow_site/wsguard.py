"""The WebSocket door (docs/architecture.md, records 7 and 12): the Origin checked exactly, and
a plain 404 for a path no consumer serves.

A browser always sends Origin; it must be the site's own origin — scheme, host and port, the
scheme https when the socket is wss or a trusted proxy says X-Forwarded-Proto: https, the host
one of ALLOWED_HOSTS — or one listed in CSRF_TRUSTED_ORIGINS or PUBLIC_URL. Another port of the
same host is another origin. A client sending no Origin (Python `websockets`, curl) is not a
browser: it passes here marked `tf_no_origin`, and the consumers accept it only with a ticket
or a bearer credential, never on a cookie alone (runs.consumers).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from taskflow_site.lib.proxies import peer_trusted

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_key(value: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, the port made explicit; None when malformed."""
    try:
        parts = urlsplit(value.strip())
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS or not host or port is None:
        return None
    return scheme, host, port


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def own_origin(scope) -> tuple[str, str, int] | None:
    """The origin this socket was opened on, from its Host header (None: a host not served)."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, port = split_domain_port(host.lower())
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    client = scope.get("client") or (None,)
    forwarded = (_header(scope, b"x-forwarded-proto") or "").strip().lower()
    trusted = peer_trusted(client[0], settings.TASKFLOW["TRUSTED_PROXY_ADDRESSES"])
    secure = scope.get("scheme") == "wss" or (trusted and forwarded == "https")
    scheme = "https" if secure else "http"
    return origin_key(f"{scheme}://{domain}:{port}" if port else f"{scheme}://{domain}")


def _trusted(key: tuple[str, str, int]) -> bool:
    listed = [*settings.CSRF_TRUSTED_ORIGINS, settings.TASKFLOW["PUBLIC_URL"]]
    for entry in listed:
        scheme, _, rest = str(entry).partition("://")
        wildcard = rest.startswith("*.")
        trusted = origin_key(f"{scheme}://{rest[2:]}" if wildcard else str(entry))
        if trusted is None:
            continue
        if trusted == key:
            return True
        same_scheme_port = key[0] == trusted[0] and key[2] == trusted[2]
        if wildcard and same_scheme_port and key[1].endswith("." + trusted[1]):
            return True
    return False


def origin_allowed(scope, origin: str) -> bool:
    key = origin_key(origin)
    return key is not None and (key == own_origin(scope) or _trusted(key))


class OriginGuard:
    """ASGI middleware for the websocket protocol (see the module docstring)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            if origin is None:
                scope = {**scope, "tf_no_origin": True}
            elif not origin_allowed(scope, origin):
                denier = WebsocketDenier()
                return await denier(scope, receive, send)
        return await self.application(scope, receive, send)


async def socket_not_found(scope, receive, send):
    """An unknown WebSocket path: HTTP 404 at the handshake (the denial response of the ASGI
    spec, which taskflow_site.cli.web teaches daphne) instead of a server error."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.http.response.start", "status": 404, "headers": []})
    await send({"type": "websocket.http.response.body", "body": b"Not found.\n"})
