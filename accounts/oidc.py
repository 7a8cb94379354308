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
import re
import time

import jwt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.views.generic import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from accounts import services
from accounts.models import Role, User

logger = logging.getLogger("taskflow.sso")

DISCOVERY_SECONDS = 300.0  # a provider's endpoints and keys rarely move
DISCOVERY_TIMEOUT = 10.0
FAILED_URL = "/admin/login/?sso=failed"
_USERNAME_JUNK = re.compile(r"[^\w.@+-]+")
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


def _sign_algorithm(document: dict) -> str:
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    asymmetric = [alg for alg in offered if alg.startswith(("RS", "ES", "PS"))]
    return asymmetric[0] if asymmetric else "RS256"


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


def _new_username(claims: dict) -> str:
    candidates = [claims.get("preferred_username"), claims.get("email"), claims.get("sub")]
    base = next((str(c) for c in candidates if c), "sso-user")
    base = _USERNAME_JUNK.sub("-", base)[:140] or "sso-user"
    username, number = base, 1
    while User.objects.filter(username__iexact=username).exists():
        number += 1
        username = f"{base}-{number}"
    return username


class PasswordGate(ModelBackend):
    """First in AUTHENTICATION_BACKENDS: in SSO-only mode a password attempt stops here
    (Django then records the failure through user_login_failed)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if password is not None and not services.password_login_allowed():
            raise PermissionDenied("Password login is disabled: use single sign-on.")
        return None


class OidcBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's code flow with our user matching, creation and role mapping."""

    def __init__(self, *args, **kwargs):
        # the library reads the provider's endpoints here; we resolve them at sign-in, so a
        # session of an SSO user never waits for (or depends on) the provider
        self.UserModel = User

    def authenticate(self, request, **kwargs):
        if request is None or not oidc_enabled() or "code" not in request.GET:
            return None
        try:
            document = oidc_provider()
        except ProviderUnavailable:
            logger.exception("single sign-on: provider unavailable")
            return None
        self.OIDC_OP_TOKEN_ENDPOINT = document["token_endpoint"]
        self.OIDC_OP_USER_ENDPOINT = document["userinfo_endpoint"]
        self.OIDC_OP_JWKS_ENDPOINT = document["jwks_uri"]
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = _sign_algorithm(document)
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.issuer = document.get("issuer") or settings.OIDC_ISSUER.rstrip("/")
        return super().authenticate(request, **kwargs)

    def retrieve_matching_jwk(self, token):
        """The library's lookup needs a key id ("kid"); a provider that publishes a single
        key may omit it, and then that one key (of the token's algorithm) is the key."""
        header = jwt.get_unverified_header(token)
        if "kid" in header:
            return super().retrieve_matching_jwk(token)
        import httpx

        try:
            response = httpx.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=DISCOVERY_TIMEOUT)
            response.raise_for_status()
            keys = response.json().get("keys", [])
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise SuspiciousOperation(f"Cannot read the provider's keys: {exc}") from exc
        usable = [key for key in keys if key.get("alg", header.get("alg")) == header.get("alg")]
        if len(usable) != 1:
            raise SuspiciousOperation("The ID token names no key and the provider has several.")
        return jwt.PyJWK(usable[0])

    def verify_token(self, token, **kwargs):
        """The library checks signature, expiry and nonce; we add audience and issuer, so a
        token the provider issued to another client is refused."""
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if settings.OIDC_RP_CLIENT_ID not in audiences or payload.get("iss") != self.issuer:
            raise SuspiciousOperation("The ID token was not issued to TaskFlow by the issuer.")
        return payload

    def get_user(self, user_id):
        return ModelBackend.get_user(self, user_id)  # refuses inactive users

    def verify_claims(self, claims):
        return bool(claims.get(settings.OIDC_MATCH_CLAIM))

    def describe_user_by_claims(self, claims):
        return f"{settings.OIDC_MATCH_CLAIM} {claims.get(settings.OIDC_MATCH_CLAIM)}"

    def filter_users_by_claims(self, claims):
        value = str(claims.get(settings.OIDC_MATCH_CLAIM) or "")
        if not value:
            return User.objects.none()
        if settings.OIDC_MATCH_CLAIM == "email":
            return User.objects.filter(email__iexact=value)
        return User.objects.filter(username__iexact=value)

    def create_user(self, claims):
        if settings.OIDC_MATCH_CLAIM == "email":
            username = _new_username(claims)
        else:
            username = str(claims[settings.OIDC_MATCH_CLAIM])
        return services.user_create_external(
            username=username,
            email=str(claims.get("email") or ""),
            role=sso_role(claims) or Role.USER,
        )

    def update_user(self, user, claims):
        role = sso_role(claims)
        if role is None or role == user.role or not user.is_active:
            return user
        try:
            return services.user_update(user=user, role=role)
        except services.LastAdmin:
            logger.warning("single sign-on: %s stays admin (the last active admin)", user)
            return user


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
