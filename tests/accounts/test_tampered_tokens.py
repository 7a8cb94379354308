"""E4: only JWT_SECRET + the configured algorithm + an unexpired access token gets in."""

import base64
import json
import time

import jwt
import pytest
from django.conf import settings

from tests.support.clients import bearer, login

pytestmark = pytest.mark.django_db


def _b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def claims(owner):
    access = login("owner").json()["data"]["access"]
    return jwt.decode(access, options={"verify_signature": False})


def _refused(token: str) -> None:
    response = bearer(token).get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"


def test_a_genuine_token_is_accepted(claims):
    token = jwt.encode(claims, settings.JWT_SECRET, algorithm="HS256")
    assert bearer(token).get("/api/auth/me").status_code == 200


def test_alg_none_is_refused(claims):
    _refused(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.")


def test_another_hs_algorithm_with_the_right_secret_is_refused(claims):
    _refused(jwt.encode(claims, settings.JWT_SECRET, algorithm="HS512"))


def test_an_edited_payload_is_refused(claims, admin_user):
    genuine = jwt.encode(claims, settings.JWT_SECRET, algorithm="HS256")
    header, _payload, signature = genuine.split(".")
    forged = {**claims, "role": "admin", "user_id": str(admin_user.pk)}
    _refused(f"{header}.{_b64(forged)}.{signature}")


def test_an_expired_token_is_refused(claims):
    past = int(time.time()) - 3600
    _refused(jwt.encode({**claims, "iat": past - 60, "exp": past}, settings.JWT_SECRET, "HS256"))


def test_a_refresh_token_is_not_an_access_token(owner):
    _refused(login("owner").json()["data"]["refresh"])


def test_a_token_signed_with_secret_key_is_refused(claims):
    assert settings.SECRET_KEY != settings.JWT_SECRET
    _refused(jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256"))


def test_garbage_is_refused(db):
    _refused("not.a.token")
    _refused("x" * 5000)
