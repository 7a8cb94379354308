"""JWT (signed with JWT_SECRET, revocable) and session authentication for the API."""

from __future__ import annotations

from rest_framework import authentication
from rest_framework_simplejwt.authentication import JWTAuthentication as BaseJWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.services import token_is_revoked as rule


def token_is_revoked(user, token) -> bool:
    """Kept for callers of the foundation's name; the rule lives in accounts.services."""

    return rule(user=user, token=token)


class JWTAuthentication(BaseJWTAuthentication):
    """simplejwt accepts only SIMPLE_JWT["ALGORITHM"] with JWT_SECRET and only access tokens;
    on top of that a token is refused once its user's tokens were revoked or it was logged
    out."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if token_is_revoked(user, validated_token):
            raise InvalidToken("Token has been revoked.")
        return user


class SessionAuthentication(authentication.SessionAuthentication):
    """The browsable API and admin pages; CSRF enforced on writes (DRF's default)."""
