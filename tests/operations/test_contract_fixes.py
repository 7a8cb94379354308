"""The smaller contract items: `lastRun` counts manual runs, and the OpenAPI schema we serve
passes openapi-spec-validator."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from runs.models import TriggerType
from runs.services import run_enqueue
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_last_run_includes_manual_runs(admin_api, admin_user):
    job = JobFactory(created_by=admin_user)
    assert admin_api.get(f"/api/jobs/{job.pk}").json()["data"]["lastRun"] is None

    triggered = admin_api.post(f"/api/jobs/{job.pk}/run")

    assert triggered.status_code == 201
    run_at = triggered.json()["data"]["triggeredAt"]
    assert admin_api.get(f"/api/jobs/{job.pk}").json()["data"]["lastRun"] == run_at
    listed = admin_api.get("/api/jobs").json()["data"]["jobs"]
    assert [item["lastRun"] for item in listed if item["id"] == str(job.pk)] == [run_at]


def test_a_skipped_manual_run_does_not_move_last_run(admin_api, admin_user):
    job = JobFactory(created_by=admin_user, overlap_policy="skip")
    first, _ = run_enqueue(job=job, trigger_type=TriggerType.MANUAL)
    job.refresh_from_db()
    before = job.last_run_at

    skipped, created = run_enqueue(job=job, trigger_type=TriggerType.MANUAL)

    assert created and skipped.status == "skipped"
    job.refresh_from_db()
    assert job.last_run_at == before == first.created_at


def test_the_served_schema_is_valid_openapi(admin_api):
    response = admin_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    validate(response.json())
