"""E9 CORS (allow-all never with credentials) and E10 CSRF on session-authenticated writes."""

import os

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.support.clients import CSRF_SECRET
from tests.support.processes import python_output

pytestmark = pytest.mark.django_db


def _settings_in_child(**env) -> str:
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='taskflow_site.settings';"
        "from django.conf import settings as s;"
        "print(getattr(s, 'CORS_ALLOW_ALL_ORIGINS', False), s.CORS_ALLOW_CREDENTIALS)"
    )
    return python_output(code, {**os.environ, **env})


def test_allowed_origins_star_never_enables_credentials():
    assert _settings_in_child(ALLOWED_ORIGINS="*") == "True False"
    assert _settings_in_child(ALLOWED_ORIGINS="https://a.example,*") == "True False"
    assert _settings_in_child(ALLOWED_ORIGINS="https://a.example") == "False True"


@override_settings(CORS_ALLOW_ALL_ORIGINS=True, CORS_ALLOW_CREDENTIALS=False)
def test_with_allow_all_any_origin_gets_a_star_but_no_credentials(owner_api):
    response = owner_api.get("/api/auth/me", HTTP_ORIGIN="https://evil.example")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


@override_settings(
    CORS_ALLOW_ALL_ORIGINS=False,
    CORS_ALLOWED_ORIGINS=["https://good.example"],
    CORS_ALLOW_CREDENTIALS=True,
)
def test_with_a_list_an_untrusted_origin_gets_no_cors_headers(owner_api):
    evil = owner_api.get("/api/auth/me", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in evil.headers
    assert "Access-Control-Allow-Credentials" not in evil.headers
    good = owner_api.get("/api/auth/me", HTTP_ORIGIN="https://good.example")
    assert good.headers["Access-Control-Allow-Origin"] == "https://good.example"
    assert good.headers["Access-Control-Allow-Credentials"] == "true"


def test_a_preflight_allows_the_idempotency_key_header(api):
    response = api.options(
        "/api/jobs",
        HTTP_ORIGIN="https://any.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, idempotency-key",
    )
    assert response.status_code == 200
    assert "idempotency-key" in response.headers["Access-Control-Allow-Headers"]


@pytest.fixture
def session_client(admin_user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin_user)
    client.cookies["csrftoken"] = CSRF_SECRET
    return client


def test_a_session_write_without_a_csrf_token_is_403(session_client):
    response = session_client.post("/api/jobs", {"name": "x", "script": "true"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "UNAUTHORIZED"
    assert "CSRF" in response.json()["error"]


def test_a_session_write_with_the_csrf_token_passes(session_client):
    response = session_client.post(
        "/api/jobs", {"name": "x", "script": "true"}, format="json", HTTP_X_CSRFTOKEN=CSRF_SECRET
    )
    assert response.status_code == 201


def test_a_session_read_needs_no_csrf_token(session_client):
    assert session_client.get("/api/jobs").status_code == 200


def test_a_bearer_token_write_needs_no_csrf_token(admin_api):
    admin_api.handler.enforce_csrf_checks = True
    response = admin_api.post("/api/jobs", {"name": "x", "script": "true"}, format="json")
    assert response.status_code == 201
