"""The seed's phase-2 rate limits: login 5/min per client IP, run 10/min per user, 100/min.

The client IP is DRF's `get_ident`: the socket address, or the N-th address from the right of
X-Forwarded-For only when NUM_PROXIES (TASKFLOW trusted_proxies) says N proxies are in front.
So a forged header cannot reset a counter, and login is limited per IP, never per username
(an attacker elsewhere cannot lock the admin out).
"""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle


class LoginThrottle(SimpleRateThrottle):
    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RunThrottle(UserRateThrottle):
    """Manual triggers (POST /api/jobs/:id/run, re-runs, LocalFlow tasks), per user."""

    scope = "run"


class UserThrottle(UserRateThrottle):
    """Every other endpoint, per user (per client IP when anonymous)."""

    scope = "user"
