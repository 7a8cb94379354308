"""The rate limits of every door (docs/api.md): login 5/min per client address (the API and the
admin's login form count together), run 10/min per user (the API and the admin's Run now), 100/min.

The client address is the socket peer, or the N-th address from the right of X-Forwarded-For
only when NUM_PROXIES (TASKFLOW trusted_proxies) says N proxies are in front AND the peer is
one of the trusted proxy addresses (taskflow_site.lib.proxies): a local process, a job
included, cannot reset a counter with a forged header. Login is limited per address, never per
username (an attacker elsewhere cannot lock the admin out).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

from taskflow_site.lib.proxies import forwarded_client


def client_ident(request) -> str:
    """The client's address as every throttle sees it ("unix": a peer on the Unix socket)."""
    return forwarded_client(
        request.META,
        hops=api_settings.NUM_PROXIES or 0,
        entries=settings.TASKFLOW["TRUSTED_PROXY_ADDRESSES"],
    )


def client_address(request) -> str | None:
    """The client's IP as the throttles see it (for the audit trail and token last use);
    None when it is not an IP address (a malformed forwarded header, the Unix socket)."""
    try:
        return str(ipaddress.ip_address(client_ident(request)))
    except ValueError:
        return None


class _ClientIdent:
    def get_ident(self, request):
        return client_ident(request)


class LoginThrottle(_ClientIdent, SimpleRateThrottle):
    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RunThrottle(_ClientIdent, UserRateThrottle):
    """Manual triggers (POST /api/jobs/:id/run, re-runs, LocalFlow tasks, the admin's Run now
    and re-run), per user."""

    scope = "run"


class UserThrottle(_ClientIdent, UserRateThrottle):
    """Every other endpoint, per user (per client address when anonymous)."""

    scope = "user"


def door_wait(throttle_class, request) -> int | None:
    """For doors outside DRF (the admin): None when `request` may pass `throttle_class`'s
    limit (and it is counted), else the seconds to wait."""
    throttle = throttle_class()
    if throttle.allow_request(request, None):
        return None
    return max(1, int(throttle.wait() or 1))
