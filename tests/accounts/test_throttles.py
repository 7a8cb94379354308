"""E8 and the limits of docs/api.md: login 5/min per socket IP, run 10/min per user,
100/min per user elsewhere. X-Forwarded-For counts only behind configured proxies."""

import pytest
from django.conf import settings
from django.test import override_settings

from tests.support.clients import PASSWORD, login

pytestmark = pytest.mark.django_db


def test_the_sixth_login_in_a_minute_from_one_ip_is_429(owner):
    for _ in range(5):
        assert login("owner", "wrong", REMOTE_ADDR="10.0.0.1").status_code == 401
    response = login("owner", PASSWORD, REMOTE_ADDR="10.0.0.1")
    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert "Retry-After" in response.headers


def test_a_forged_x_forwarded_for_does_not_reset_the_counter(owner):
    for index in range(5):
        login("owner", "wrong", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"1.2.3.{index}")
    response = login("owner", PASSWORD, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="5.6.7.8")
    assert response.status_code == 429


def test_an_attacker_cannot_lock_the_admin_out_from_another_address(admin_user):
    for _ in range(6):
        login("admin", "guess", REMOTE_ADDR="10.6.6.6")
    assert login("admin", "guess", REMOTE_ADDR="10.6.6.6").status_code == 429
    assert login("admin", PASSWORD, REMOTE_ADDR="10.0.0.2").status_code == 200


def test_behind_one_trusted_proxy_the_client_is_the_address_the_proxy_appended(owner):
    rest = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = {**settings.TASKFLOW, "TRUSTED_PROXY_ADDRESSES": ["127.0.0.1"]}  # the test client
    with override_settings(REST_FRAMEWORK=rest, TASKFLOW=proxy):
        for index in range(5):
            # the client forges the left part; the proxy appends the real address
            login("owner", "wrong", HTTP_X_FORWARDED_FOR=f"9.9.9.{index}, 1.2.3.4")
        assert login("owner", PASSWORD, HTTP_X_FORWARDED_FOR="1.2.3.4").status_code == 429
        assert login("owner", PASSWORD, HTTP_X_FORWARDED_FOR="4.3.2.1").status_code == 200


def test_manual_runs_are_limited_to_ten_a_minute_per_user(
    owner_api, outsider_api, owner_job, outsider_job
):
    for _ in range(10):
        assert owner_api.post(f"/api/jobs/{owner_job.id}/run").status_code == 201
    response = owner_api.post(f"/api/jobs/{owner_job.id}/run")
    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert outsider_api.post(f"/api/jobs/{outsider_job.id}/run").status_code == 201


def test_other_endpoints_allow_a_hundred_requests_a_minute_per_user(owner_api, outsider_api):
    for _ in range(100):
        assert owner_api.get("/api/auth/me").status_code == 200
    assert owner_api.get("/api/auth/me").status_code == 429
    assert outsider_api.get("/api/auth/me").status_code == 200
