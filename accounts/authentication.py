"""API tokens (`Bearer tf_...`), JWT (signed with JWT_SECRET, revocable) and session
authentication for the API. Each tells the audit context who is acting."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication as BaseJWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.apitokens import (
    TOKEN_PREFIX,
    TokenRefused,
    api_token_authenticate,
    api_token_scope_needed,
)
from accounts.audit import audit_context_authenticated
from accounts.models import Scope
from accounts.services import token_is_revoked as rule
from accounts.throttles import client_address


def token_is_revoked(user, token) -> bool:
    """Kept for callers of the foundation's name; the rule lives in accounts.services."""

    return rule(user=user, token=token)


class JWTAuthentication(BaseJWTAuthentication):
    """simplejwt accepts only SIMPLE_JWT["ALGORITHM"] with JWT_SECRET and only access tokens;
    on top of that a token is refused once its user's tokens were revoked or it was logged
    out."""

    def authenticate(self, request):
        header = self.get_header(request)
        if header is not None and _bearer(header).startswith(TOKEN_PREFIX):
            return None  # an API token: ApiTokenAuthentication's
        return super().authenticate(request)

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if token_is_revoked(user, validated_token):
            raise InvalidToken("Token has been revoked.")
        audit_context_authenticated(user=user)
        return user


def _bearer(header: bytes) -> str:
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return ""
    return parts[1].decode("latin-1")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer tf_...`: the token's owner, within the token's scopes.

    The scope is checked here, for every view alike (views set their own permission classes):
    a safe method needs read, a trigger/cancel/re-run needs run, any other change write. An
    admin's token without the admin scope acts as a user for the request (User.is_admin)."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "").encode("latin-1")
        secret = _bearer(header)
        if not secret.startswith(TOKEN_PREFIX):
            return None
        try:
            token = api_token_authenticate(secret=secret, ip=client_address(request))
        except TokenRefused as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        match = getattr(request, "resolver_match", None)
        needed = api_token_scope_needed(method=request.method, route=match and match.url_name)
        if needed not in token.scopes:
            raise exceptions.PermissionDenied(f"This API token lacks the {needed} scope.")
        user = token.user
        user.admin_withheld = Scope.ADMIN not in token.scopes
        audit_context_authenticated(user=user, token=token)
        return user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The browsable API and admin pages; CSRF enforced on writes (DRF's default)."""


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of ApiTokenAuthentication (registered by being defined)."""

    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (tf_...) from POST /api/tokens, within its scopes.",
        }
