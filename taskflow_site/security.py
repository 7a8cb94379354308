"""Browser hardening for every page (docs/architecture.md, record 12).

- `proxy_headers`: X-Forwarded-Proto is believed only from a trusted proxy address
  (taskflow_site.lib.proxies), so `request.is_secure()` — CSRF's checks, HSTS, Secure
  cookies — cannot be talked into https by any other peer, a local job included.
- `browser_hardening`: a Content-Security-Policy on every response (scripts only from our own
  static files: no inline script runs), and over HTTPS the session and CSRF cookies marked
  Secure (HSTS comes from SecurityMiddleware, which sends it only over HTTPS). Plain-HTTP
  deployments (a laptop, 127.0.0.1) keep working: nothing Secure-only is set there.
"""

from __future__ import annotations

from django.conf import settings

from taskflow_site.lib.proxies import peer_trusted

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # the admin's and uPlot's style attributes
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",  # the API and the live-log WebSockets of this origin
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
FORWARDED_PROTO = "HTTP_X_FORWARDED_PROTO"


def proxy_headers(get_response):
    """Middleware, first in the chain: drop X-Forwarded-Proto unless a trusted proxy sent it."""

    def middleware(request):
        if FORWARDED_PROTO in request.META and not peer_trusted(
            request.META.get("REMOTE_ADDR"), settings.TASKFLOW["TRUSTED_PROXY_ADDRESSES"]
        ):
            del request.META[FORWARDED_PROTO]
        return get_response(request)

    return middleware


def browser_hardening(get_response):
    """Middleware: the CSP everywhere; Secure cookies when the request came over HTTPS."""

    def middleware(request):
        response = get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.is_secure():
            for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
                if name in response.cookies:
                    response.cookies[name]["secure"] = True
        return response

    return middleware
