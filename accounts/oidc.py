"""Single sign-on with OpenID Connect, on mozilla-django-oidc (the code flow, state, nonce and
ID-token signature checks are the library's).

Configured by issuer, client id and secret (docs/governance.md): the provider's endpoints come
from its discovery document, fetched when someone signs in (never per request). Users are
matched by one claim (OIDC_MATCH_CLAIM: "email" matches the e-mail address, any other claim the
username); a new user is created with role user, or admin when OIDC_ADMIN_CLAIM holds one of
OIDC_ADMIN_VALUES (a group), which is applied again at every sign-in. In SSO-only mode every
password login is refused (PasswordGate) and the admin login page shows only the SSO button.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from accounts import services
from accounts.models import Role

logger = logging.getLogger("taskflow.sso")

DISCOVERY_SECONDS = 300.0  # a provider's endpoints and keys rarely move
DISCOVERY_TIMEOUT = 10.0
FAILED_URL = "/admin/login/?sso=failed"
_discovered: dict[str, tuple[float, dict]] = {}


class ProviderUnavailable(RuntimeError):
    """The issuer's discovery document could not be read."""


def oidc_enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_RP_CLIENT_ID)


def oidc_provider() -> dict:
    """The issuer's discovery document (cached for DISCOVERY_SECONDS)."""
    issuer = settings.OIDC_ISSUER.rstrip("/")
    cached = _discovered.get(issuer)
    if cached is not None and time.monotonic() - cached[0] < DISCOVERY_SECONDS:
        return cached[1]
    url = f"{issuer}/.well-known/openid-configuration"
    import httpx  # here: ~12 MB that only a sign-in needs (idle footprint, issue 14)

    try:
        response = httpx.get(url, timeout=DISCOVERY_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderUnavailable(f"cannot read {url}: {exc}") from exc
    needed = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")
    missing = [key for key in needed if not document.get(key)]
    if missing:
        raise ProviderUnavailable(f"{url} lacks {', '.join(missing)}")
    _discovered[issuer] = (time.monotonic(), document)
    return document


def _claim_values(claims: dict, name: str) -> list[str]:
    value = claims.get(name)
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return [] if value is None else [str(value)]


def sso_role(claims: dict) -> str | None:
    """admin when the admin claim holds a configured value, user otherwise; None when no
    mapping is configured (the role is then left as it is)."""
    if not settings.OIDC_ADMIN_CLAIM or not settings.OIDC_ADMIN_VALUES:
        return None
    granted = set(_claim_values(claims, settings.OIDC_ADMIN_CLAIM))
    return Role.ADMIN if granted & set(settings.OIDC_ADMIN_VALUES) else Role.USER


class PasswordGate(ModelBackend):
    """First in AUTHENTICATION_BACKENDS: in SSO-only mode a password attempt stops here
    (Django then records the failure through user_login_failed)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if password is not None and not services.password_login_allowed():
            raise PermissionDenied("Password login is disabled: use single sign-on.")
        return None


class OidcLoginView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider; 404 when SSO is not configured."""

    def __init__(self, **kwargs):
        View.__init__(self, **kwargs)  # the provider's endpoint is read per sign-in, below

    def get(self, request):
        if not oidc_enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            document = oidc_provider()
        except ProviderUnavailable:
            logger.exception("single sign-on: provider unavailable")
            return HttpResponseRedirect(FAILED_URL)
        self.OIDC_OP_AUTH_ENDPOINT = document["authorization_endpoint"]
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


def sso_context(request) -> dict:
    """Template context: whether the login page offers single sign-on, or only that."""
    if not oidc_enabled():
        return {"sso": {"enabled": False, "only": False}}
    try:
        url = reverse("oidc_authentication_init")
    except NoReverseMatch:
        return {"sso": {"enabled": False, "only": False}}
    return {
        "sso": {
            "enabled": True,
            "only": not services.password_login_allowed(),
            "login_url": url,
            "failed": request.GET.get("sso") == "failed",
        }
    }
