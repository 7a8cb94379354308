"""Admin actions call the services, report what happened, and act only inside the viewer's scope."""

import pytest
from django.contrib.messages import get_messages

from jobs.models import Job
from runs.models import Run, RunStatus, TriggerType
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db


def action(client, url, name, *objects):
    return client.post(
        url,
        {"action": name, "_selected_action": [str(obj.pk) for obj in objects], "index": "0"},
        follow=True,
    )


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_it_runs_the_users_own_job_now(owner_client, owner):
    job = JobFactory(name="mine", created_by=owner)
    response = action(owner_client, "/admin/jobs/job/", "run_now", job)
    run = Run.objects.get()
    assert run.job == job and run.trigger_type == TriggerType.MANUAL
    assert run.triggered_by == owner and run.status == RunStatus.PENDING
    assert any("mine: run" in text and "queued" in text for text in texts(response))


def test_it_does_not_run_another_users_job_even_when_its_id_is_posted(owner_client, outsider):
    job = JobFactory(created_by=outsider)
    action(owner_client, "/admin/jobs/job/", "run_now", job)
    assert not Run.objects.exists()


def test_it_reports_a_run_skipped_by_the_overlap_policy(owner_client, owner):
    job = JobFactory(created_by=owner, overlap_policy="skip")
    RunFactory(job=job, status=RunStatus.RUNNING)
    response = action(owner_client, "/admin/jobs/job/", "run_now", job)
    assert Run.objects.filter(status=RunStatus.SKIPPED).count() == 1
    assert any("skipped" in text for text in texts(response))


def test_it_disables_and_enables_jobs(owner_client, owner):
    job = JobFactory(created_by=owner, enabled=True)
    response = action(owner_client, "/admin/jobs/job/", "disable_jobs", job)
    assert Job.objects.get(pk=job.pk).enabled is False
    assert any("disabled" in text for text in texts(response))
    action(owner_client, "/admin/jobs/job/", "enable_jobs", job)
    assert Job.objects.get(pk=job.pk).enabled is True


def test_it_does_not_disable_another_users_job(owner_client, outsider):
    job = JobFactory(created_by=outsider, enabled=True)
    action(owner_client, "/admin/jobs/job/", "disable_jobs", job)
    assert Job.objects.get(pk=job.pk).enabled is True


def test_the_run_now_button_queues_a_run_and_opens_its_viewer(owner_client, owner):
    job = JobFactory(created_by=owner)
    response = owner_client.post(f"/admin/jobs/job/{job.pk}/run/")
    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/runs/run/{run.pk}/change/"


def test_it_cancels_a_pending_run(owner_client, owner):
    run = RunFactory(job__created_by=owner, status=RunStatus.PENDING)
    response = action(owner_client, "/admin/runs/run/", "cancel_runs", run)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert any("Cancel requested for 1 run" in text for text in texts(response))


def test_it_says_so_when_nothing_selected_could_be_cancelled(owner_client, owner):
    run = RunFactory(job__created_by=owner, status=RunStatus.SUCCESS)
    response = action(owner_client, "/admin/runs/run/", "cancel_runs", run)
    assert any("None of the selected runs" in text for text in texts(response))


def test_it_does_not_cancel_another_users_run(owner_client, outsider):
    run = RunFactory(job__created_by=outsider, status=RunStatus.PENDING)
    action(owner_client, "/admin/runs/run/", "cancel_runs", run)
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING
    assert owner_client.post(f"/admin/runs/run/{run.pk}/cancel/").status_code == 404


def test_it_reruns_a_finished_run(owner_client, owner):
    run = RunFactory(job__created_by=owner, status=RunStatus.FAILURE)
    response = action(owner_client, "/admin/runs/run/", "rerun_runs", run)
    assert Run.objects.count() == 2
    assert any("re-run" in text for text in texts(response))


def test_the_cancel_button_cancels_and_returns_to_the_run(owner_client, owner):
    run = RunFactory(job__created_by=owner, status=RunStatus.PENDING)
    response = owner_client.post(f"/admin/runs/run/{run.pk}/cancel/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_the_rerun_button_opens_the_new_run(owner_client, owner):
    run = RunFactory(job__created_by=owner, status=RunStatus.SUCCESS)
    response = owner_client.post(f"/admin/runs/run/{run.pk}/rerun/")
    new = Run.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/admin/runs/run/{new.pk}/change/"


def test_buttons_refuse_get(owner_client, owner):
    run = RunFactory(job__created_by=owner, status=RunStatus.PENDING)
    assert owner_client.get(f"/admin/runs/run/{run.pk}/cancel/").status_code == 405
    form = owner_client.get(f"/admin/jobs/job/{run.job.pk}/run/")  # Run now's form page
    assert form.status_code == 200 and Run.objects.count() == 1  # a GET starts nothing


def test_an_admin_deletes_jobs_with_their_runs(admin_client):
    running = RunFactory(status=RunStatus.RUNNING)
    job = running.job
    confirm = admin_client.post(
        "/admin/jobs/job/", {"action": "delete_selected", "_selected_action": [str(job.pk)]}
    )
    assert confirm.status_code == 200  # the confirmation page
    response = admin_client.post(
        "/admin/jobs/job/",
        {"action": "delete_selected", "_selected_action": [str(job.pk)], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not Run.objects.filter(pk=running.pk).exists()
