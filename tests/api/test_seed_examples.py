"""The examples of docs/api.md reproduced key for key, with their JSON types, and the
success/error format."""

import uuid
from datetime import datetime

import pytest

from jobs.models import Job

pytestmark = pytest.mark.django_db


def _is_time(value) -> bool:
    return isinstance(value, str) and value.endswith("Z") and bool(datetime.fromisoformat(value))


def _is_uuid(value) -> bool:
    return isinstance(value, str) and str(uuid.UUID(value)) == value


@pytest.fixture
def seed_job(admin_api, admin_user):
    response = admin_api.post(
        "/api/jobs",
        {
            "name": "backup-db",
            "description": "Daily database backup",
            "script": "pg_dump > /tmp/db.sql",
            "timeout_seconds": 3600,
            "retry_count": 3,
            "schedule": {"hours": [3], "minutes": [0]},
        },
        format="json",
    )
    assert response.status_code == 201
    return Job.objects.get(pk=response.json()["data"]["id"])


def test_get_jobs_matches_the_seed_example(admin_api, seed_job):
    body = admin_api.get("/api/jobs").json()
    assert list(body) == ["data", "status"] and body["status"] == "success"
    assert list(body["data"]) == ["jobs", "total"]
    assert isinstance(body["data"]["total"], int)
    job = body["data"]["jobs"][0]
    expected = {
        "id": _is_uuid,
        "name": lambda v: v == "backup-db",
        "description": lambda v: v == "Daily database backup",
        "enabled": lambda v: v is True,
        "timeout_seconds": lambda v: v == 3600,
        "retry_count": lambda v: v == 3,
        "nextRun": _is_time,
        "lastRun": lambda v: v is None or _is_time(v),
        "createdBy": lambda v: v == "admin",
        "createdAt": _is_time,
    }
    assert list(job)[: len(expected)] == list(expected)
    for key, check in expected.items():
        assert check(job[key]), (key, job[key])


def test_post_run_matches_the_seed_example(admin_api, seed_job):
    body = admin_api.post(f"/api/jobs/{seed_job.id}/run").json()
    assert body["status"] == "success"
    data = body["data"]
    assert list(data) == ["runId", "jobId", "status", "triggeredAt"]
    assert _is_uuid(data["runId"]) and data["jobId"] == str(seed_job.id)
    assert data["status"] == "pending"
    assert _is_time(data["triggeredAt"])


def test_dashboard_stats_match_the_seed_example(admin_api, seed_job):
    data = admin_api.get("/api/dashboard/stats").json()["data"]
    assert list(data) == [
        "activeJobs",
        "runningNow",
        "successRate",
        "totalFailures",
        "averageDuration",
        "uptime",
    ]
    assert all(isinstance(data[key], int) for key in data if key != "successRate")
    assert isinstance(data["successRate"], float)
    assert data["activeJobs"] == 1


@pytest.mark.parametrize(
    ("method", "url", "who", "status", "code"),
    [
        ("get", "/api/jobs", "api", 401, "INVALID_TOKEN"),
        ("get", "/api/users", "owner_api", 403, "UNAUTHORIZED"),
        ("get", "/api/jobs/00000000-0000-0000-0000-000000000000", "owner_api", 404, "NOT_FOUND"),
        ("get", "/api/no-such-endpoint", "owner_api", 404, "NOT_FOUND"),
        ("post", "/api/jobs", "admin_api", 400, "VALIDATION_ERROR"),
        ("delete", "/api/jobs", "admin_api", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_errors_use_the_seeds_error_body_and_codes(request, method, url, who, status, code):
    response = getattr(request.getfixturevalue(who), method)(url)
    assert response.status_code == status
    body = response.json()
    assert list(body) == ["error", "code", "details"]
    assert isinstance(body["error"], str) and body["error"]
    assert body["code"] == code


def test_a_login_failure_is_invalid_credentials(api, owner):
    body = api.post("/api/auth/login", {"username": "owner", "password": "x"}, format="json").json()
    assert body["code"] == "INVALID_CREDENTIALS"


def test_a_validation_error_has_details_per_field(admin_api):
    body = admin_api.post("/api/jobs", {"timeout_seconds": "long"}, format="json").json()
    assert body["code"] == "VALIDATION_ERROR"
    assert {"name", "timeout_seconds"} <= set(body["details"])


def test_a_body_that_is_not_json_is_a_4xx_envelope(admin_api):
    response = admin_api.generic("POST", "/api/jobs", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    response = admin_api.generic("POST", "/api/jobs", "name=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
