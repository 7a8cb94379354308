"""The single sign-on backend: mozilla-django-oidc's code flow with our user matching, creation
and role mapping (the rules themselves are in accounts.oidc).

A module of its own because the library's backend imports `requests` (~5 MiB in the web
process): settings list it in AUTHENTICATION_BACKENDS only when single sign-on is configured,
and Django imports every listed backend at each sign-in (issue 14, idle footprint).
"""

from __future__ import annotations

import logging
import re

import jwt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts import services
from accounts.models import Role, User
from accounts.oidc import (
    DISCOVERY_TIMEOUT,
    ProviderUnavailable,
    oidc_enabled,
    oidc_provider,
    sso_role,
)

logger = logging.getLogger("taskflow.sso")
_USERNAME_JUNK = re.compile(r"[^\w.@+-]+")


def _sign_algorithm(document: dict) -> str:
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    asymmetric = [alg for alg in offered if alg.startswith(("RS", "ES", "PS"))]
    return asymmetric[0] if asymmetric else "RS256"


def _new_username(claims: dict) -> str:
    candidates = [claims.get("preferred_username"), claims.get("email"), claims.get("sub")]
    base = next((str(c) for c in candidates if c), "sso-user")
    base = _USERNAME_JUNK.sub("-", base)[:140] or "sso-user"
    username, number = base, 1
    while User.objects.filter(username__iexact=username).exists():
        number += 1
        username = f"{base}-{number}"
    return username


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
