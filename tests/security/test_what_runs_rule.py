"""Who may change what a job runs. While jobs run with the server's own uid (no job user), only
admins: a user's change to kind, script, shell, command, working dir, variables, the HTTP
request or run-as is a 403 naming the fields, in the API, and read-only in the admin with a line
saying why. Users keep name, description, schedule, zone, retries, timeout, notifications,
enable/disable and run. With a job user they edit what runs too; run-as stays an admin's."""

from __future__ import annotations

import pytest

from jobs.admin import LOCKED_WHY
from jobs.secrets import job_secret_values
from jobs.services import WHAT_RUNS_FIELDS
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

CHANGES = {
    "kind": "command",
    "script": "cat ~/.taskflow/jwt_secret",
    "shell": "/bin/sh",
    "command": ["/bin/cat", "/etc/shadow"],
    "http_method": "POST",
    "http_url": "https://example.com/",
    "http_headers": {"X-A": "b"},
    "http_body": "x",
    "working_dir": "/var",
    "env_vars": {"A": "1"},
    "secret_env_vars": {"B": "2"},
    "run_as": "nobody",
}
KEPT = {
    "name": "renamed",
    "description": "mine",
    "timezone": "Europe/Paris",
    "retry_count": 2,
    "timeout_seconds": 60,
    "notify_on": "always",
    "enabled": False,
    "schedule": {"cron_expr": "*/5 * * * *"},
}


@pytest.fixture
def no_job_user(settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "JOB_USER": None, "RUN_AS_USERS": ["nobody"]}


def test_every_field_that_decides_what_runs_is_guarded():
    assert set(CHANGES) <= set(WHAT_RUNS_FIELDS)


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_without_a_job_user_a_users_change_to_what_runs_is_a_403_naming_it(
    no_job_user, owner_api, owner_job, field
):
    before = owner_job.script
    response = owner_api.patch(f"/api/jobs/{owner_job.id}", {field: CHANGES[field]}, format="json")
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["code"] == "UNAUTHORIZED"
    assert body["details"] == {field: ["Only admins may change this field."]}
    assert field in body["error"]
    owner_job.refresh_from_db()
    assert owner_job.script == before


def test_a_user_keeps_every_other_field(no_job_user, owner_api, owner_job):
    response = owner_api.patch(f"/api/jobs/{owner_job.id}", KEPT, format="json")
    assert response.status_code == 200, response.content
    assert owner_api.post(f"/api/jobs/{owner_job.id}/enable").status_code == 200
    assert owner_api.post(f"/api/jobs/{owner_job.id}/run").status_code == 201


def test_sending_back_what_runs_unchanged_is_no_change(no_job_user, owner_api, owner):
    job = JobFactory(created_by=owner, secret_env_vars={"TOKEN": "t0k"}, env_vars={"A": "1"})
    current = owner_api.get(f"/api/jobs/{job.id}").json()["data"]
    current.pop("schedule")  # a full PUT of what GET returned, only the name changed
    current["name"] = "still mine"
    response = owner_api.put(f"/api/jobs/{job.id}", current, format="json")
    assert response.status_code == 200, response.content
    assert job_secret_values(job) == {"TOKEN": "t0k"}


def test_an_admin_changes_what_runs(no_job_user, admin_api, owner_job):
    response = admin_api.patch(
        f"/api/jobs/{owner_job.id}", {"script": "echo admin", "run_as": "nobody"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["data"]["run_as"] == "nobody"


def test_with_a_job_user_a_user_changes_the_script_but_never_run_as(
    jobs_apart, settings, owner_api, owner_job
):
    settings.TASKFLOW = {**settings.TASKFLOW, "RUN_AS_USERS": ["nobody"]}
    response = owner_api.patch(f"/api/jobs/{owner_job.id}", {"script": "id"}, format="json")
    assert response.status_code == 200
    response = owner_api.patch(f"/api/jobs/{owner_job.id}", {"run_as": "nobody"}, format="json")
    assert response.status_code == 403
    assert list(response.json()["details"]) == ["run_as"]


def test_run_as_must_be_on_the_servers_list_and_never_root(settings, admin_api, owner_job):
    settings.TASKFLOW = {**settings.TASKFLOW, "RUN_AS_USERS": ["nobody", "root"]}
    for name, problem in (("daemon", "not an allowed"), ("root", "root")):
        response = admin_api.patch(f"/api/jobs/{owner_job.id}", {"run_as": name}, format="json")
        assert response.status_code == 400
        assert problem in response.json()["details"]["run_as"][0]


def test_the_editor_shows_what_runs_read_only_with_the_reason(no_job_user, owner_client, owner_job):
    page = owner_client.get(f"/admin/jobs/job/{owner_job.pk}/change/")
    assert page.status_code == 200
    assert LOCKED_WHY in page.content.decode()
    form = page.context["adminform"].form
    for name in ("script", "kind", "env_text", "secret_env_text", "command_text", "run_as"):
        assert name not in form.fields
    assert "name" in form.fields and "timeout_seconds" in form.fields


def test_a_posted_script_is_ignored_by_the_locked_editor(no_job_user, owner_client, owner_job):
    data = {
        "name": "renamed",
        "description": "",
        "enabled": "on",
        "timeout_seconds": "60",
        "priority": "0",
        "has_schedule": "",
        "timezone": "UTC",
        "cron_expr": "",
        "schedule": "{}",
        "retry_count": "0",
        "retry_delay_seconds": "60",
        "retry_backoff_max_seconds": "3600",
        "exit_codes_text": "",
        "overlap_policy": "queue",
        "max_queued": "",
        "catchup_policy": "run_once",
        "catchup_window_seconds": "86400",
        "notify_emails": "",
        "notify_on": "failure",
        "notify_daily_cap": "0",
        "webhooks_text": "",
        # what a forged form would add
        "script": "cat /etc/shadow",
        "env_text": "A=1",
        "kind": "command",
        "command_text": "/bin/cat\n/etc/shadow",
    }
    response = owner_client.post(f"/admin/jobs/job/{owner_job.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    owner_job.refresh_from_db()
    assert owner_job.name == "renamed"
    assert owner_job.script == "echo hello" and owner_job.kind == "shell"
    assert owner_job.env_vars == {} and owner_job.command == []


def test_an_admin_sees_no_lock(no_job_user, admin_client, owner_job):
    page = admin_client.get(f"/admin/jobs/job/{owner_job.pk}/change/")
    assert LOCKED_WHY not in page.content.decode()
    assert "script" in page.context["adminform"].form.fields
