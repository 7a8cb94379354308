"""Jobs API: list/create/get/update/delete, enable/disable, preview, per-field validation,
RBAC (admins create and assign owners; users edit their own) and E7 mass assignment."""

import pytest
from django.conf import settings

from jobs.models import Job
from jobs.secrets import job_secret_values
from jobs.services import job_errors
from runs.models import Run
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

# docs/api.md's example job, its keys in its order
DOCUMENTED_JOB_KEYS = [
    "id",
    "name",
    "description",
    "enabled",
    "timeout_seconds",
    "retry_count",
    "nextRun",
    "lastRun",
    "createdBy",
    "createdAt",
]


def _create(client, **fields):
    payload = {"name": "backup-db", "script": "pg_dump db > /tmp/x", **fields}
    return client.post("/api/jobs", payload, format="json")


def test_the_job_list_has_the_documented_keys_first_and_a_total(admin_api, owner_job):
    response = admin_api.get("/api/jobs")
    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data) == {"jobs", "total"}
    assert data["total"] == 1
    job = data["jobs"][0]
    assert list(job)[: len(DOCUMENTED_JOB_KEYS)] == DOCUMENTED_JOB_KEYS
    assert job["createdBy"] == "owner"
    assert job["nextRun"].endswith("Z")
    assert job["schedule"]["hours"] == [3]


def test_a_user_lists_only_their_own_jobs_and_an_admin_all(
    owner_api, outsider_api, admin_api, owner_job, outsider_job
):
    assert [job["name"] for job in owner_api.get("/api/jobs").json()["data"]["jobs"]] == [
        "owner-job"
    ]
    assert owner_api.get("/api/jobs").json()["data"]["total"] == 1
    assert [job["name"] for job in outsider_api.get("/api/jobs").json()["data"]["jobs"]] == [
        "outsider-job"
    ]
    assert admin_api.get("/api/jobs").json()["data"]["total"] == 2


def test_the_job_list_filters_and_pages(admin_api, owner):
    for index in range(5):
        JobFactory(name=f"job-{index}", created_by=owner, enabled=index % 2 == 0)
    page = admin_api.get("/api/jobs?limit=2&offset=1").json()["data"]
    assert page["total"] == 5
    assert [job["name"] for job in page["jobs"]] == ["job-1", "job-2"]
    assert admin_api.get("/api/jobs?enabled=false").json()["data"]["total"] == 2
    assert admin_api.get("/api/jobs?search=job-3").json()["data"]["total"] == 1
    assert admin_api.get("/api/jobs?created_by=owner").json()["data"]["total"] == 5
    assert admin_api.get("/api/jobs?limit=abc").status_code == 400


def test_an_admin_creates_a_job_with_a_nested_schedule(admin_api, admin_user):
    response = _create(
        admin_api,
        schedule={"hours": [3], "minutes": [0]},
        timezone="Europe/Berlin",
        retry_count=3,
    )
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["createdBy"] == "admin"
    assert data["retry_count"] == 3
    assert data["schedule"]["hours"] == [3]
    assert data["nextRun"] is not None
    assert Job.objects.get(pk=data["id"]).created_by == admin_user


def test_an_admin_assigns_the_owner_by_username_or_id(admin_api, owner):
    by_name = _create(admin_api, created_by="owner").json()["data"]
    by_id = _create(admin_api, created_by=str(owner.pk)).json()["data"]
    assert by_name["createdBy"] == by_id["createdBy"] == "owner"
    response = _create(admin_api, created_by="ghost")
    assert response.status_code == 400
    assert "created_by" in response.json()["details"]


def test_a_user_cannot_create_jobs(owner_api):
    response = _create(owner_api)
    assert response.status_code == 403
    assert response.json()["code"] == "UNAUTHORIZED"
    assert not Job.objects.exists()


def test_validation_errors_name_each_field(admin_api):
    response = admin_api.post(
        "/api/jobs",
        {
            "name": "",
            "kind": "shell",
            "timeout_seconds": settings.TASKFLOW["MAX_JOB_TIMEOUT"] + 1,
            "timezone": "Mars/Olympus",
            "notify_emails": "ok@example.com, not-an-address",
            "working_dir": "relative/dir",
        },
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert {"name", "timeout_seconds", "timezone", "notify_emails", "working_dir"} <= set(
        body["details"]
    )


def test_invalid_fields_get_the_services_messages(admin_api):
    """One set of job rules: the API's details are jobs.services.job_errors' messages."""
    fields = {
        "name": "x" * 201,
        "kind": "command",
        "command": ["", "arg"],
        "timeout_seconds": 0,
        "retry_count": 101,
        "overlap_policy": "sometimes",
        "http_method": "TRACE",
        "http_headers": {"Bad Name": "v"},
        "env_vars": {"TASKFLOW_X": "1"},
        "webhook_urls": ["ftp://example.com/x"],
        "timezone": "Mars/Olympus",
    }
    response = admin_api.post("/api/jobs", fields, format="json")
    assert response.status_code == 400
    expected = job_errors(Job(**fields))
    assert set(expected) == set(fields) - {"kind"}
    assert {key: response.json()["details"][key] for key in expected} == expected


def test_a_shell_job_needs_a_script(admin_api):
    response = admin_api.post("/api/jobs", {"name": "x"}, format="json")
    assert response.status_code == 400
    assert "script" in response.json()["details"]


def test_schedule_errors_are_nested_per_schedule_field(admin_api):
    response = _create(admin_api, schedule={"months": [2], "days": [30]})
    assert response.status_code == 400
    assert "days" in response.json()["details"]["schedule"]
    response = _create(admin_api, schedule={"cron_expr": "61 * * * *"})
    assert "cron_expr" in response.json()["details"]["schedule"]
    response = _create(admin_api, schedule={"hours": ["x"]})
    assert response.status_code == 400


def test_the_owner_updates_their_job_with_put_and_patch(owner_api, owner_job):
    response = owner_api.put(
        f"/api/jobs/{owner_job.id}", {"name": "renamed", "retry_count": 2}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["data"]["name"] == "renamed"
    assert response.json()["data"]["script"] == "echo hello"  # not sent, not reset
    response = owner_api.patch(f"/api/jobs/{owner_job.id}", {"description": "d"}, format="json")
    assert response.status_code == 200
    owner_job.refresh_from_db()
    assert (owner_job.name, owner_job.retry_count, owner_job.description) == ("renamed", 2, "d")


def test_put_requires_the_name_and_patch_does_not(owner_api, owner_job):
    assert owner_api.put(f"/api/jobs/{owner_job.id}", {}, format="json").status_code == 400
    assert owner_api.patch(f"/api/jobs/{owner_job.id}", {}, format="json").status_code == 200


def test_a_schedule_change_recomputes_next_run_and_null_removes_it(owner_api, owner_job):
    response = owner_api.patch(
        f"/api/jobs/{owner_job.id}", {"schedule": {"cron_expr": "*/5 * * * *"}}, format="json"
    )
    assert response.json()["data"]["schedule"]["cron_expr"] == "*/5 * * * *"
    response = owner_api.patch(f"/api/jobs/{owner_job.id}", {"schedule": None}, format="json")
    assert response.json()["data"]["schedule"] is None
    assert response.json()["data"]["nextRun"] is None


def test_secret_values_are_never_returned_and_the_mask_keeps_them(admin_api, owner_job):
    response = admin_api.patch(
        f"/api/jobs/{owner_job.id}",
        {"secret_env_vars": {"TOKEN": "s3cret", "OTHER": "x"}},
        format="json",
    )
    assert response.json()["data"]["secret_env_vars"] == {"TOKEN": "***", "OTHER": "***"}
    assert "s3cret" not in response.content.decode()
    admin_api.patch(
        f"/api/jobs/{owner_job.id}",
        {"secret_env_vars": {"TOKEN": "***", "OTHER": "y"}},
        format="json",
    )
    owner_job.refresh_from_db()
    assert job_secret_values(owner_job) == {"TOKEN": "s3cret", "OTHER": "y"}
    assert "s3cret" not in str(owner_job.secret_env_vars)  # encrypted at rest


def test_e7_a_user_cannot_assign_an_owner_or_staff_flags(owner_api, owner, outsider, owner_job):
    response = owner_api.patch(
        f"/api/jobs/{owner_job.id}", {"created_by": "outsider"}, format="json"
    )
    assert response.status_code == 400
    owner_job.refresh_from_db()
    assert owner_job.created_by == owner
    response = owner_api.patch(
        f"/api/jobs/{owner_job.id}",
        {"role": "admin", "is_staff": True, "is_superuser": True, "createdBy": "outsider"},
        format="json",
    )
    assert response.status_code == 400  # unknown keys are refused, each named
    # (createdBy, a key of what GET returns, is ignored: the owner is `created_by`)
    assert set(response.json()["details"]) == {"role", "is_staff", "is_superuser"}
    owner.refresh_from_db()
    owner_job.refresh_from_db()
    assert owner.role == "user" and not owner.is_superuser
    assert owner_job.created_by == owner


def test_an_admin_reassigns_an_owner(admin_api, outsider, owner_job):
    response = admin_api.patch(
        f"/api/jobs/{owner_job.id}", {"created_by": "outsider"}, format="json"
    )
    assert response.json()["data"]["createdBy"] == "outsider"


def test_disable_clears_next_run_and_enable_restores_it(owner_api, owner_job):
    response = owner_api.post(f"/api/jobs/{owner_job.id}/disable")
    assert response.status_code == 200
    assert response.json()["data"]["enabled"] is False
    assert response.json()["data"]["nextRun"] is None
    response = owner_api.post(f"/api/jobs/{owner_job.id}/enable")
    assert response.json()["data"]["enabled"] is True
    assert response.json()["data"]["nextRun"] is not None


def test_the_owner_deletes_their_job(owner_api, owner_job):
    response = owner_api.delete(f"/api/jobs/{owner_job.id}")
    assert response.status_code == 200
    assert response.json()["data"]["deleted"] is True
    assert not Job.objects.filter(pk=owner_job.pk).exists()


def test_preview_lists_the_next_fire_times(owner_api, owner_job):
    response = owner_api.get(f"/api/jobs/{owner_job.id}/preview?count=3")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["timezone"] == "UTC"
    assert len(data["nextRuns"]) == 3
    assert all(value.endswith("T03:00:00Z") for value in data["nextRuns"])
    assert owner_api.get(f"/api/jobs/{owner_job.id}/preview?count=0").status_code == 400
    assert owner_api.get(f"/api/jobs/{owner_job.id}/preview?count=1000").status_code == 400


def test_preview_of_a_job_without_schedule_is_empty(admin_api, outsider_job):
    data = admin_api.get(f"/api/jobs/{outsider_job.id}/preview").json()["data"]
    assert data["nextRuns"] == []


def test_a_draft_schedule_can_be_previewed(owner_api):
    response = owner_api.post(
        "/api/jobs/preview",
        {"schedule": {"cron_expr": "30 2 * * *"}, "timezone": "Europe/Berlin", "count": 2},
        format="json",
    )
    assert response.status_code == 200
    assert len(response.json()["data"]["nextRuns"]) == 2
    bad = owner_api.post(
        "/api/jobs/preview", {"schedule": {"cron_expr": "x"}, "timezone": "UTC"}, format="json"
    )
    assert bad.status_code == 400
    assert "cron_expr" in bad.json()["details"]["schedule"]
    bad_zone = owner_api.post(
        "/api/jobs/preview", {"schedule": {}, "timezone": "Nowhere/City"}, format="json"
    )
    assert bad_zone.status_code == 400
    assert "timezone" in bad_zone.json()["details"]


def test_trigger_returns_the_documented_run_keys(owner_api, owner, owner_job):
    response = owner_api.post(f"/api/jobs/{owner_job.id}/run")
    assert response.status_code == 201
    data = response.json()["data"]
    assert list(data) == ["runId", "jobId", "status", "triggeredAt"]
    assert data["jobId"] == str(owner_job.id)
    assert data["status"] == "pending"
    run = Run.objects.get(pk=data["runId"])
    assert run.trigger_type == "manual" and run.triggered_by == owner


def test_the_same_idempotency_key_returns_the_same_run(owner_api, admin_api, owner_job):
    first = owner_api.post(f"/api/jobs/{owner_job.id}/run", HTTP_IDEMPOTENCY_KEY="abc")
    again = owner_api.post(f"/api/jobs/{owner_job.id}/run", HTTP_IDEMPOTENCY_KEY="abc")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["data"]["runId"] == again.json()["data"]["runId"]
    # another caller's identical key is another run (keys are namespaced per user)
    other = admin_api.post(f"/api/jobs/{owner_job.id}/run", HTTP_IDEMPOTENCY_KEY="abc")
    assert other.json()["data"]["runId"] != first.json()["data"]["runId"]
    assert Run.objects.count() == 2
    too_long = owner_api.post(f"/api/jobs/{owner_job.id}/run", HTTP_IDEMPOTENCY_KEY="k" * 101)
    assert too_long.status_code == 400
