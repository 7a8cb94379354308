"""Every write endpoint refuses a field it does not know with a 400 naming it (docs/api.md,
"Unknown fields"): walked from the OpenAPI schema, so a new endpoint is covered the day it is
added; and the schema says so (`additionalProperties: false`)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.apitokens import api_token_create
from accounts.models import ApiToken, User
from jobs.models import Job
from tests.factories import JobFactory, RunFactory, ScheduleFactory

pytestmark = pytest.mark.django_db

UNKNOWN = "surelyNotAField"
WRITES = ("post", "put", "patch", "delete")


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _write_operations(schema: dict) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, operations in schema["paths"].items()
        for method in WRITES
        if method in operations
    ]


def _url(path: str, ids: dict) -> str:
    if "{id}" not in path:
        return path
    collection = path.split("/")[2]
    return path.replace("{id}", str(ids[collection]))


def test_every_write_endpoint_refuses_an_unknown_field_and_changes_nothing(
    admin_api, admin_user, owner
):
    job = JobFactory(created_by=admin_user)
    ScheduleFactory(job=job, cron_expr="0 3 * * *")
    token, _ = api_token_create(user=admin_user, name="ci")
    ids = {
        "jobs": job.pk,
        "schedules": job.pk,
        "runs": RunFactory(job=job).pk,
        "users": owner.pk,
        "tokens": token.pk,
    }
    operations = [op for op in _write_operations(_schema()) if op[1] != "/setup/admin"]
    assert len(operations) >= 29  # every app's writes: jobs, runs, accounts, settings...

    refused = {}
    for method, path in operations:
        response = getattr(admin_api, method)(_url(path, ids), {UNKNOWN: 1}, format="json")
        details = response.json().get("details") or {}
        refused[(method.upper(), path)] = (response.status_code, UNKNOWN in details)

    assert refused == dict.fromkeys(refused, (400, True))
    assert Job.objects.filter(pk=job.pk, enabled=True).exists()
    assert User.objects.filter(pk=owner.pk).exists()
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_the_first_admin_setup_refuses_an_unknown_field():
    body = {"username": "root", "password": "a-long-enough-passphrase", UNKNOWN: 1}
    response = APIClient().post("/setup/admin", body, format="json")
    assert response.status_code == 400
    assert response.json()["details"] == {UNKNOWN: ["Unknown field."]}
    assert not User.objects.exists()


def test_nested_inputs_name_the_unknown_field_where_it_is(admin_api):
    body = {"name": "x", "script": "true", "schedule": {"cron_expr": "* * * * *", "hour": [1]}}
    response = admin_api.post("/api/jobs", body, format="json")
    assert response.status_code == 400
    assert response.json()["details"] == {"schedule": {"hour": ["Unknown field."]}}


def test_unknown_and_invalid_fields_are_reported_together(admin_api):
    body = {"name": "x", "timeout_seconds": "soon", "tiemout": 3}
    details = admin_api.post("/api/jobs", body, format="json").json()["details"]
    assert details["tiemout"] == ["Unknown field."] and details["timeout_seconds"]


def test_the_schema_says_request_bodies_take_no_other_fields():
    components = _schema()["components"]["schemas"]
    for name in ("JobInputRequest", "TaskInputRequest", "CrontabImportInputRequest"):
        assert components[name]["additionalProperties"] is False, name
    assert "additionalProperties" not in components["JobOutput"]


def test_what_get_returned_may_be_sent_back_its_server_keys_ignored(admin_api, admin_user):
    job = JobFactory(created_by=admin_user, name="before")
    current = admin_api.get(f"/api/jobs/{job.pk}").json()["data"]
    current.update(name="after", id="not-an-id", createdAt="whenever")
    current.pop("schedule")

    response = admin_api.put(f"/api/jobs/{job.pk}", current, format="json")

    assert response.status_code == 200, response.content
    assert (
        response.json()["data"]["id"] == str(job.pk) and response.json()["data"]["name"] == "after"
    )
    user = admin_api.get(f"/api/users/{admin_user.pk}").json()["data"]
    assert admin_api.put(f"/api/users/{admin_user.pk}", user, format="json").status_code == 200
    smtp = admin_api.get("/api/settings/smtp").json()["data"]
    assert admin_api.put("/api/settings/smtp", smtp, format="json").status_code == 200
