"""Browser hardening: a Content-Security-Policy on every page and no inline script; Secure
session and CSRF cookies and HSTS over HTTPS (directly, or as a trusted proxy's
X-Forwarded-Proto says, never as any other peer says); X-Frame-Options, nosniff and
Referrer-Policy kept."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from taskflow_site.security import CONTENT_SECURITY_POLICY
from tests.support.clients import PASSWORD

pytestmark = pytest.mark.django_db

PAGES = [
    "/admin/",
    "/admin/jobs/job/",
    "/admin/runs/run/",
    "/admin/metrics/",
    "/admin/accounts/user/",
    "/api/docs/",
    "/api/jobs",
    "/health",
]
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
INLINE_HANDLER = re.compile(rb"<[^>]+\son[a-z]+\s*=", re.I)


@pytest.mark.parametrize("url", PAGES)
def test_every_page_has_the_policy_and_the_old_headers(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code in (200, 503), url
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY.split("script-src", 1)[1].split(";")[0]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    if response.get("Content-Type", "").startswith("text/html"):
        assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("url", [*PAGES, "/admin/login/", "/admin/jobs/job/add/"])
def test_no_page_carries_inline_script(admin_client, owner_job, url):
    body = admin_client.get(url).content
    assert not INLINE_SCRIPT.findall(body), url
    assert not INLINE_HANDLER.findall(body), url


def test_the_api_docs_load_their_start_up_script_from_a_url(admin_client):
    page = admin_client.get("/api/docs/").content.decode()
    script = re.search(r'<script src="([^"]*\?script[^"]*)"', page)
    assert script, page
    assert admin_client.get(script.group(1).replace("&amp;", "&")).status_code == 200


def _login(client: Client, **extra):
    return client.post(
        "/admin/login/?next=/admin/", {"username": "owner", "password": PASSWORD}, **extra
    )


def test_over_plain_http_cookies_are_not_secure_and_there_is_no_hsts(owner):
    response = _login(Client())
    assert response.status_code == 302
    assert not response.cookies["sessionid"]["secure"]
    assert "Strict-Transport-Security" not in response


def test_over_https_cookies_are_secure_with_hsts(owner):
    client = Client()
    assert client.get("/admin/login/", secure=True).cookies["csrftoken"]["secure"]
    response = _login(client, secure=True)
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"]
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_trusted_proxys_forwarded_proto_counts(owner, settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "TRUSTED_PROXY_ADDRESSES": ["127.0.0.1"]}
    response = _login(Client(), HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="127.0.0.1")
    assert response.cookies["sessionid"]["secure"]
    assert "Strict-Transport-Security" in response


def test_anyone_elses_forwarded_proto_does_not(owner):
    response = _login(Client(), HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 302
    assert not response.cookies["sessionid"]["secure"]
    assert "Strict-Transport-Security" not in response
