"""JWT (signed with JWT_SECRET, revocable) and session authentication for the API."""

from __future__ import annotations

from rest_framework import authentication
from rest_framework_simplejwt.authentication import JWTAuthentication as BaseJWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.models import RevokedToken


def token_is_revoked(user, token) -> bool:
    """True when the token predates the user's revocation cut-off or was logged out."""
    issued_at = token.get("iat")
    cutoff = user.tokens_valid_after
    if cutoff and issued_at is not None and issued_at <= cutoff.timestamp():
        return True
    jti = token.get("jti")
    return bool(jti) and RevokedToken.objects.filter(jti=jti).exists()


class JWTAuthentication(BaseJWTAuthentication):
    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if token_is_revoked(user, validated_token):
            raise InvalidToken("Token has been revoked.")
        return user


class SessionAuthentication(authentication.SessionAuthentication):
    """The browsable API and admin pages; CSRF enforced on writes (DRF's default)."""
