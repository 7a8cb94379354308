"""The audit trail for jobs and runs: create, update (diff, secrets as "changed"), enable,
disable, delete, run, cancel and re-run, from the API, the admin, the CLI and the engine acting
for a user; the job page's history reads from it; owners read their jobs' entries."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import AuditEntry
from jobs.models import Job
from runs.models import Run, RunStatus, TriggerType
from runs.services import run_enqueue
from tests.factories import RunFactory
from tests.support.clients import bearer

pytestmark = pytest.mark.django_db


def last(**filters) -> AuditEntry:
    found = AuditEntry.objects.filter(**filters).order_by("-at", "-id").first()
    assert found is not None, f"no audit entry with {filters}"
    return found


def actions(job) -> list[str]:
    rows = AuditEntry.objects.filter(job_id=job.pk).order_by("at", "id")
    return [entry.action for entry in rows]


def test_job_changes_through_the_api_with_diffs_and_secrets_hidden(admin_api, admin_user):
    created = admin_api.post(
        "/api/jobs",
        {
            "name": "deploy",
            "script": "echo one",
            "secret_env_vars": {"TOKEN": "s3cr3t-value"},
        },
        format="json",
    ).json()["data"]
    job = Job.objects.get(pk=created["id"])
    entry = last(action="create", object_type="job")
    assert entry.object_id == str(job.pk) and entry.job_id == job.pk and entry.surface == "api"

    admin_api.patch(
        f"/api/jobs/{job.pk}",
        {
            "script": "echo two",
            "secret_env_vars": {"TOKEN": "another-s3cr3t"},
            "http_headers": {"Authorization": "Bearer hidden-header"},
            "webhook_urls": ["https://hooks.example.com/T0/B0/secretpath"],
            "schedule": {"hours": [4], "minutes": [30]},
        },
        format="json",
    )
    update = last(action="update", object_type="job")
    assert update.changes["script"] == {"from": "echo one", "to": "echo two"}
    for secret in ("secret_env_vars", "http_headers", "webhook_urls"):
        assert update.changes[secret] == "changed"
    assert update.changes["schedule"]["to"]["hours"] == [4]
    stored = str(list(AuditEntry.objects.values_list("changes", flat=True)))
    for value in ("s3cr3t-value", "another-s3cr3t", "hidden-header", "secretpath"):
        assert value not in stored

    admin_api.post(f"/api/jobs/{job.pk}/disable")
    admin_api.post(f"/api/jobs/{job.pk}/enable")
    admin_api.patch(f"/api/jobs/{job.pk}", {"enabled": False}, format="json")
    admin_api.delete(f"/api/jobs/{job.pk}")
    assert actions(job)[-4:] == ["disable", "enable", "disable", "delete"]
    assert last(action="delete").actor == admin_user


def test_an_owner_change_names_both_owners(admin_api, owner_job, outsider):
    admin_api.patch(f"/api/jobs/{owner_job.pk}", {"created_by": "outsider"}, format="json")
    change = last(action="update", object_type="job")
    assert change.changes["created_by"] == {"from": "owner", "to": "outsider"}


def test_runs_cancels_and_reruns_are_recorded_once_each(owner_api, owner, owner_job):
    run_id = owner_api.post(f"/api/jobs/{owner_job.pk}/run").json()["data"]["runId"]
    run_entry = last(action="run")
    assert run_entry.object_type == "run" and run_entry.object_id == run_id
    assert run_entry.job_id == owner_job.pk and run_entry.actor == owner

    owner_api.post(f"/api/runs/{run_id}/cancel")
    assert last(action="cancel").object_id == run_id
    owner_api.post(f"/api/runs/{run_id}/cancel")  # idempotent: nothing more happened
    assert AuditEntry.objects.filter(action="cancel").count() == 1

    new_run = owner_api.post(f"/api/runs/{run_id}/rerun").json()["data"]["id"]
    rerun = last(action="rerun")
    assert rerun.object_id == new_run and rerun.changes == {"of": {"from": None, "to": run_id}}
    assert actions(owner_job) == ["run", "cancel", "rerun"]


def test_a_token_is_named_beside_its_owner(owner_api, owner, owner_job):
    created = owner_api.post("/api/tokens", {"name": "ci"}, format="json").json()["data"]
    bearer(created["token"]).post(f"/api/jobs/{owner_job.pk}/run")
    entry = last(action="run")
    assert entry.actor == owner and entry.token_id == created["id"]
    body = owner_api.get("/api/audit?action=run").json()["data"]["entries"][0]
    assert body["actor"] == "owner" and body["token"] == {"id": created["id"], "name": "ci"}


def test_the_admin_records_its_actions(admin_client, admin_user, owner_job):
    url = reverse("admin:jobs_job_changelist")
    admin_client.post(url, {"action": "disable_jobs", "_selected_action": [owner_job.pk]})
    disabled = last(action="disable")
    assert disabled.surface == "admin" and disabled.actor == admin_user
    admin_client.post(url, {"action": "run_now", "_selected_action": [owner_job.pk]})
    assert last(action="run").surface == "admin"


def test_the_cli_records_as_the_system(owner_job):
    call_command("runjob", str(owner_job.pk), "--no-wait", stdout=StringIO())
    entry = last(action="run")
    assert entry.surface == "cli" and entry.actor is None and entry.actor_name == "system"


def test_deleting_a_job_cancels_its_runs_on_the_users_behalf(admin_api, admin_user, owner_job):
    pending = RunFactory(job=owner_job, status=RunStatus.PENDING)
    admin_api.delete(f"/api/jobs/{owner_job.pk}")
    cancel = last(action="cancel")
    assert cancel.object_id == str(pending.pk)
    assert cancel.surface == "engine" and cancel.actor == admin_user
    assert last(action="delete").surface == "api"


def test_localflow_tasks_are_recorded_as_runs(admin_api, admin_user):
    task = admin_api.post(
        "/api/tasks",
        {"type": "shell", "payload": {"command": "echo", "args": ["hi"]}},
        format="json",
    ).json()["data"]
    entry = last(action="run")
    assert entry.object_id == task["id"] and entry.job_id is None and entry.actor == admin_user


def test_owners_read_their_jobs_entries_and_nobody_elses(
    admin_api, owner_api, outsider_api, owner_job, outsider_job
):
    admin_api.patch(f"/api/jobs/{owner_job.pk}", {"priority": 3}, format="json")
    admin_api.post(f"/api/jobs/{owner_job.pk}/run")
    admin_api.patch(f"/api/jobs/{outsider_job.pk}", {"priority": 4}, format="json")

    mine = owner_api.get("/api/audit").json()["data"]["entries"]
    assert {(e["action"], e["object"]) for e in mine} >= {("update", "owner-job")}
    assert {e["action"] for e in mine} >= {"update", "run"}
    assert "outsider-job" not in {e["object"] for e in mine}
    by_job = owner_api.get(f"/api/audit?object_id={owner_job.pk}").json()["data"]["entries"]
    assert [e["action"] for e in by_job] == ["update"]
    theirs = outsider_api.get("/api/audit").json()["data"]["entries"]
    assert {e["object"] for e in theirs} == {"outsider-job"}


def test_the_job_page_history_reads_the_trail(admin_api, owner_client, owner_job, outsider_client):
    admin_api.patch(
        f"/api/jobs/{owner_job.pk}",
        {"script": "echo changed", "secret_env_vars": {"K": "hush-hush"}},
        format="json",
    )
    admin_api.post(f"/api/jobs/{owner_job.pk}/run")
    url = reverse("admin:jobs_job_history", args=[owner_job.pk])
    page = owner_client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "echo changed" in text and "changed" in text and "hush-hush" not in text
    assert "Run" in text and "admin" in text and "API" in text
    assert outsider_client.get(url).status_code == 404


def test_run_rows_reach_the_trail_only_for_people_and_not_the_scheduler(owner_job):
    run_enqueue(job=owner_job, trigger_type=TriggerType.SCHEDULED)
    assert not AuditEntry.objects.filter(action="run").exists()
    assert Run.objects.filter(job=owner_job).count() == 1
