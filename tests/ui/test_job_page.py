"""The job page (what a job link opens) and /api/jobs/<id>/activity behind it: last runs,
figures, next runs, active runs with progress, change history; scoped like the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.utils import timezone

from accounts.audit import audit_context
from accounts.models import AuditAction
from jobs.audit import job_audit, job_audit_update
from metrics.activity import job_summary, percentile
from runs.admin.words import schedule_words
from runs.models import RunStatus, TriggerType
from tests.factories import JobFactory, RunFactory, ScheduleFactory
from tests.jobs.test_admin_scope import job_form
from tests.support.clients import add_log_lines

pytestmark = pytest.mark.django_db


def finished(job, status, duration_ms, minutes_ago):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return RunFactory(
        job=job,
        status=status,
        started_at=at - timedelta(milliseconds=duration_ms),
        finished_at=at,
        duration_ms=duration_ms,
    )


def test_a_job_link_opens_its_page_and_editing_is_one_click_away(owner_client, owner_job):
    page = f"/admin/jobs/job/{owner_job.pk}/"
    listing = owner_client.get("/admin/jobs/job/")
    assert f'href="{page}"'.encode() in listing.content
    response = owner_client.get(page)
    assert response.status_code == 200
    assert response.templates[0].name == "admin/jobs/job/overview.html"
    assert f'href="{page}change/"'.encode() in response.content  # Edit
    assert b"data-tf-run-now" in response.content
    assert response.context["schedule_words"] == "At 03:00"


def test_another_users_job_page_is_a_404(outsider_client, owner_job):
    assert outsider_client.get(f"/admin/jobs/job/{owner_job.pk}/").status_code == 404


def test_the_activity_has_the_last_runs_their_figures_and_the_next_runs(owner_api, owner_job):
    for minutes_ago, (status, ms) in enumerate(
        [
            (RunStatus.SUCCESS, 1000),
            (RunStatus.FAILURE, 3000),
            (RunStatus.SUCCESS, 2000),
            (RunStatus.SKIPPED, 0),
            (RunStatus.TIMEOUT, 10_000),
        ]
    ):
        finished(owner_job, status, ms, minutes_ago + 1)
    data = owner_api.get(f"/api/jobs/{owner_job.pk}/activity").json()["data"]
    # newest (last created) first
    assert [mark["status"] for mark in data["recent"]] == [
        "timeout",
        "skipped",
        "success",
        "failure",
        "success",
    ]
    summary = data["summary"]
    assert summary["runCount"] == 5 and summary["executedCount"] == 4
    assert summary["successRate"] == 0.5
    assert summary["averageDuration"] == 4000
    assert summary["p95Duration"] == 10_000
    assert len(data["nextRuns"]) == 5 and data["nextRuns"][0] == data["nextRun"]
    assert data["active"] == []


def test_a_running_run_shows_the_last_percentage_it_printed(owner_api, owner_job):
    run = RunFactory(job=owner_job, status=RunStatus.RUNNING, started_at=timezone.now())
    add_log_lines(run, ["step 1: 20%", "copying 45.5 % done"])
    add_log_lines(run, ["[system] note 99%"], stream="system")
    queued = RunFactory(job=owner_job, status=RunStatus.PENDING)
    active = owner_api.get(f"/api/jobs/{owner_job.pk}/activity").json()["data"]["active"]
    by_id = {item["id"]: item for item in active}
    assert by_id[str(run.pk)]["progress"] == 45.5
    assert by_id[str(queued.pk)]["progress"] is None
    assert by_id[str(run.pk)]["jobName"] == "owner-job"  # the shape of GET /api/runs


def test_a_manual_only_or_disabled_job_has_no_next_runs(owner_api, owner):
    manual = JobFactory(created_by=owner)
    disabled = JobFactory(created_by=owner, enabled=False)
    ScheduleFactory(job=disabled, minutes=[5])
    for job in (manual, disabled):
        assert owner_api.get(f"/api/jobs/{job.pk}/activity").json()["data"]["nextRuns"] == []


def test_another_users_job_activity_is_a_404(outsider_api, owner_job):
    assert outsider_api.get(f"/api/jobs/{owner_job.pk}/activity").status_code == 404


def test_the_page_embeds_what_the_api_returns(owner_client, owner_api, owner_job):
    finished(owner_job, RunStatus.SUCCESS, 1500, 3)
    page = owner_client.get(f"/admin/jobs/job/{owner_job.pk}/").context["page"]
    assert page["activity"] == owner_api.get(page["urls"]["activity"]).json()["data"]
    assert page["runs"] == owner_api.get(page["urls"]["runs"] + "&limit=20").json()["data"]


def test_the_change_history_reads_the_audit_trail(admin_client, admin_user, owner, owner_client):
    with audit_context(surface="api", user=admin_user):
        job = JobFactory(name="audited", script="echo 1", created_by=owner)
        job_audit(AuditAction.CREATE, job)
        before = {"script": job.script}
        job.script = "echo 2"
        job.save()
        job_audit_update(job, before=before, fields=["script"])
    for client in (admin_client, owner_client):  # the owner reads entries about their job
        changes = client.get(f"/admin/jobs/job/{job.pk}/").context["changes"]
        assert [row["action"] for row in changes] == ["Update", "Create"]
        assert changes[0]["who"] == admin_user.username and changes[0]["through"] == "API"
        assert changes[0]["changes"] == [("script", "echo 1 → echo 2")]


def test_without_audit_entries_the_admin_log_is_the_history(admin_client, admin_user, owner_job):
    LogEntry.objects.log_actions(
        user_id=admin_user.pk, queryset=[owner_job], action_flag=CHANGE, change_message="Tweaked."
    )
    changes = admin_client.get(f"/admin/jobs/job/{owner_job.pk}/").context["changes"]
    assert [(row["action"], row["changes"]) for row in changes] == [("Update", [("", "Tweaked.")])]


def test_saving_in_the_editor_returns_to_the_job_page(owner_client, owner_job):
    response = owner_client.post(
        f"/admin/jobs/job/{owner_job.pk}/change/", job_form(owner_job, _save="Save")
    )
    assert response.status_code == 302
    assert response["Location"] == f"/admin/jobs/job/{owner_job.pk}/"


def test_the_history_button_lists_audit_entries(owner_client, owner_job):
    assert owner_client.get(f"/admin/jobs/job/{owner_job.pk}/history/").status_code == 200


def test_figures_of_no_runs_are_unknown_not_zero():
    summary = job_summary([])
    assert (summary["successRate"], summary["averageDuration"], summary["p95Duration"]) == (
        None,
        None,
        None,
    )
    assert percentile([5, 1, 3], 0.5) == 3


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        (None, "Manual only"),
        ({}, "Every minute"),
        ({"minutes": [15]}, "Every hour at :15"),
        ({"minutes": [0], "hours": [9], "weekdays": [1, 2, 3, 4, 5]}, "At 09:00 on Mon\u2013Fri"),
        ({"minutes": [0, 30], "hours": [9, 17]}, "At 09:00, 09:30, 17:00 and 17:30"),
        ({"hours": [3]}, "Every minute of hour 03"),
        (
            {"minutes": [0], "hours": [2], "days": [1], "months": [1, 7]},
            "At 02:00 on day 1 of the month in Jan and Jul",
        ),
        ({"cron_expr": "*/5 * * * *"}, "Cron */5 * * * *"),
        ({"cron_expr": "* * * * *"}, "Every minute"),
    ],
)
def test_a_schedule_in_words(schedule, words):
    assert schedule_words(schedule) == words


def test_the_manual_trigger_labels_are_the_models(owner_client, owner_job):
    page = owner_client.get(f"/admin/jobs/job/{owner_job.pk}/").context["page"]
    assert page["triggerLabels"][TriggerType.MANUAL] == "Manual"
