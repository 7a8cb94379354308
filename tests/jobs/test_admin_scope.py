"""Users see, edit and run only their own jobs; they never create jobs or change owners."""

import json

import pytest

from jobs.models import Job
from jobs.secrets import job_secret_values
from tests.factories import JobFactory, ScheduleFactory

pytestmark = pytest.mark.django_db


def job_form(job=None, **overrides) -> dict:
    """A complete job editor POST, as the page sends it."""
    data = {
        "name": job.name if job else "nightly",
        "description": "",
        "kind": "shell",
        "enabled": "on",
        "script": job.script if job else "echo hi",
        "shell": "/bin/bash",
        "command_text": "",
        "http_method": "GET",
        "http_url": "",
        "headers_text": "",
        "http_body": "",
        "working_dir": "/tmp",
        "timeout_seconds": "60",
        "priority": "0",
        "env_text": "",
        "secret_env_text": "",
        "has_schedule": "on",
        "timezone": "UTC",
        "cron_expr": "",
        "schedule": json.dumps({"hours": [3], "minutes": [15]}),
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
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_it_lists_only_the_users_own_jobs(owner_client, owner, outsider):
    JobFactory(name="mine", created_by=owner)
    JobFactory(name="theirs", created_by=outsider)
    response = owner_client.get("/admin/jobs/job/")
    names = [job.name for job in response.context["cl"].result_list]
    assert names == ["mine"]


def test_it_lists_every_job_for_an_admin(admin_client, owner, outsider):
    JobFactory(name="mine", created_by=owner)
    JobFactory(name="theirs", created_by=outsider)
    response = admin_client.get("/admin/jobs/job/")
    assert {job.name for job in response.context["cl"].result_list} == {"mine", "theirs"}


def test_it_answers_404_for_another_users_job(owner_client, outsider):
    job = JobFactory(created_by=outsider)
    assert owner_client.get(f"/admin/jobs/job/{job.pk}/change/").status_code == 404
    assert owner_client.get(f"/admin/jobs/job/{job.pk}/history/").status_code == 404
    assert owner_client.post(f"/admin/jobs/job/{job.pk}/run/").status_code == 404


def test_it_answers_404_for_a_job_that_does_not_exist(admin_client):
    response = admin_client.get("/admin/jobs/job/00000000-0000-0000-0000-000000000000/change/")
    assert response.status_code == 404


def test_it_refuses_job_creation_to_users(owner_client):
    assert owner_client.get("/admin/jobs/job/add/").status_code == 403
    response = owner_client.post("/admin/jobs/job/add/", job_form())
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_it_refuses_job_deletion_to_users(owner_client, owner):
    job = JobFactory(created_by=owner)
    response = owner_client.post(f"/admin/jobs/job/{job.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Job.objects.filter(pk=job.pk).exists()


def test_it_lets_an_owner_edit_their_job_through_the_service(owner_client, owner, jobs_apart):
    job = JobFactory(name="mine", created_by=owner)
    response = owner_client.post(
        f"/admin/jobs/job/{job.pk}/change/", job_form(job, script="echo changed")
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    job.refresh_from_db()
    assert job.script == "echo changed"
    assert job.schedule.hours == [3] and job.schedule.minutes == [15]
    assert job.next_run_at is not None  # computed by job_update, not by the form
    assert job.next_run_at.hour == 3 and job.next_run_at.minute == 15


def test_it_ignores_an_owner_change_sent_by_a_user(owner_client, owner, outsider):
    job = JobFactory(created_by=owner)
    response = owner_client.post(
        f"/admin/jobs/job/{job.pk}/change/", job_form(job, created_by=str(outsider.pk))
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.created_by == owner
    form = owner_client.get(f"/admin/jobs/job/{job.pk}/change/").context["adminform"].form
    assert "created_by" not in form.fields


def test_it_lets_an_admin_create_a_job_for_someone(admin_client, owner):
    response = admin_client.post("/admin/jobs/job/add/", job_form(created_by=str(owner.pk)))
    assert response.status_code == 302, response.context["adminform"].form.errors
    job = Job.objects.get()
    assert job.created_by == owner
    assert job.schedule.hours == [3]


def test_it_lets_an_admin_change_the_owner(admin_client, owner, outsider):
    job = JobFactory(created_by=owner)
    response = admin_client.post(
        f"/admin/jobs/job/{job.pk}/change/", job_form(job, created_by=str(outsider.pk))
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    job.refresh_from_db()
    assert job.created_by == outsider


def test_it_shows_schedule_errors_beside_the_grid(admin_client, owner):
    response = admin_client.post(
        "/admin/jobs/job/add/",
        job_form(schedule=json.dumps({"months": [2], "days": [30]})),
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors.get("schedule")
    assert form.schedule_errors
    assert not Job.objects.exists()


def test_it_shows_a_bad_cron_expression_beside_its_field(admin_client):
    response = admin_client.post("/admin/jobs/job/add/", job_form(cron_expr="99 * * * *"))
    assert response.status_code == 200
    assert "cron_expr" in response.context["adminform"].form.errors


def test_it_refuses_an_unknown_time_zone_beside_its_field(admin_client):
    response = admin_client.post("/admin/jobs/job/add/", job_form(timezone="Mars/Olympus"))
    assert response.status_code == 200
    assert "timezone" in response.context["adminform"].form.errors


def test_it_never_sends_secret_values_back_and_keeps_them_on_save(owner_client, owner, jobs_apart):
    job = JobFactory(created_by=owner, secret_env_vars={"API_TOKEN": "s3cr3t-value"})
    page = owner_client.get(f"/admin/jobs/job/{job.pk}/change/")
    assert b"s3cr3t-value" not in page.content
    assert b"API_TOKEN" in page.content
    response = owner_client.post(
        f"/admin/jobs/job/{job.pk}/change/", job_form(job, secret_env_text="API_TOKEN\nNEW=x")
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    job.refresh_from_db()
    assert job_secret_values(job) == {"API_TOKEN": "s3cr3t-value", "NEW": "x"}


def test_it_saves_a_job_without_a_schedule_as_manual_only(admin_client):
    response = admin_client.post("/admin/jobs/job/add/", job_form(has_schedule=None))
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.next_run_at is None
    assert not hasattr(job, "schedule") or job.schedule is None


def test_it_prefills_the_grid_from_the_saved_schedule(owner_client, owner):
    schedule = ScheduleFactory(job__created_by=owner, hours=[9], minutes=[0, 30], weekdays=[1])
    form = owner_client.get(f"/admin/jobs/job/{schedule.job.pk}/change/").context["adminform"].form
    grid = json.loads(form.initial["schedule"])
    assert grid["hours"] == [9] and grid["minutes"] == [0, 30] and grid["weekdays"] == [1]


def test_it_stores_scripts_with_unix_newlines_whatever_the_browser_sends(admin_client):
    response = admin_client.post(
        "/admin/jobs/job/add/", job_form(script="for i in 1 2; do\r\n  echo $i\r\ndone\r\n")
    )
    assert response.status_code == 302
    assert Job.objects.get().script == "for i in 1 2; do\n  echo $i\ndone"


def test_the_job_list_shows_each_jobs_latest_run(owner_client, owner):
    from runs.models import RunStatus
    from tests.factories import RunFactory

    job = JobFactory(created_by=owner)
    RunFactory(job=job, status=RunStatus.FAILURE)
    latest = RunFactory(job=job, status=RunStatus.SUCCESS)
    row = owner_client.get("/admin/jobs/job/").context["cl"].result_list[0]
    assert row.latest_run_id == latest.id and row.latest_run_status == RunStatus.SUCCESS


def test_it_creates_an_http_job_from_the_editor(admin_client):
    response = admin_client.post(
        "/admin/jobs/job/add/",
        job_form(
            name="ping",
            kind="http",
            script="",
            http_method="POST",
            http_url="https://example.com/hook",
            headers_text="Content-Type: application/json\nX-Token: abc",
            http_body='{"ok": true}',
            webhooks_text="https://hooks.example.com/a",
            exit_codes_text="1, 75",
            env_text="A=1\nB=two words",
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    job = Job.objects.get(name="ping")
    assert job.kind == "http" and job.http_method == "POST"
    assert job.http_headers == {"Content-Type": "application/json", "X-Token": "abc"}
    assert job.webhook_urls == ["https://hooks.example.com/a"]
    assert job.retry_exit_codes == [1, 75]
    assert job.env_vars == {"A": "1", "B": "two words"}


def test_it_puts_a_bad_environment_line_beside_its_field(admin_client):
    response = admin_client.post("/admin/jobs/job/add/", job_form(env_text="1BAD=x"))
    assert response.status_code == 200
    assert "env_text" in response.context["adminform"].form.errors
