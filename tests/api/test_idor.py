"""E6 IDOR sweep: every object endpoint answers 404 for another user's object (never a hint
that it exists), the owner and admins get through, lists never show others' objects."""

import pytest

from jobs.models import Job
from runs.models import Run

pytestmark = pytest.mark.django_db

JOB_ENDPOINTS = [
    ("get", "/api/jobs/{id}", None),
    ("put", "/api/jobs/{id}", {"name": "taken"}),
    ("patch", "/api/jobs/{id}", {"name": "taken"}),
    ("post", "/api/jobs/{id}/run", None),
    ("post", "/api/jobs/{id}/enable", None),
    ("post", "/api/jobs/{id}/disable", None),
    ("get", "/api/jobs/{id}/preview", None),
    ("get", "/api/jobs/{id}/metrics", None),
    ("delete", "/api/jobs/{id}", None),  # last: it removes the job
]
RUN_ENDPOINTS = [
    ("get", "/api/runs/{id}", None),
    ("get", "/api/runs/{id}/logs", None),
    ("get", "/api/runs/{id}/logs/download", None),
    ("get", "/api/runs/{id}/metrics", None),
    ("post", "/api/runs/{id}/rerun", None),
    ("post", "/api/runs/{id}/cancel", None),
]


def _call(client, method, url, body):
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize(("method", "path", "body"), JOB_ENDPOINTS)
def test_another_users_job_is_404_on_every_endpoint(outsider_api, owner_job, method, path, body):
    response = _call(outsider_api, method, path.format(id=owner_job.id), body)
    assert response.status_code == 404
    assert response.json() == {"error": "Resource not found.", "code": "NOT_FOUND", "details": None}
    owner_job.refresh_from_db()
    assert owner_job.name == "owner-job" and owner_job.enabled
    assert not Run.objects.filter(job=owner_job).exists()


@pytest.mark.parametrize(("method", "path", "body"), RUN_ENDPOINTS)
def test_another_users_run_is_404_on_every_endpoint(outsider_api, owner_run, method, path, body):
    response = _call(outsider_api, method, path.format(id=owner_run.id), body)
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert Run.objects.count() == 1
    owner_run.refresh_from_db()
    assert owner_run.status == "success"


@pytest.mark.parametrize("who", ["owner_api", "admin_api"])
@pytest.mark.parametrize(("method", "path", "body"), JOB_ENDPOINTS)
def test_the_owner_and_admins_reach_every_job_endpoint(request, who, owner_job, method, path, body):
    client = request.getfixturevalue(who)
    response = _call(client, method, path.format(id=owner_job.id), body)
    assert response.status_code in (200, 201), response.content


@pytest.mark.parametrize("who", ["owner_api", "admin_api"])
@pytest.mark.parametrize(("method", "path", "body"), RUN_ENDPOINTS)
def test_the_owner_and_admins_reach_every_run_endpoint(request, who, owner_run, method, path, body):
    client = request.getfixturevalue(who)
    response = _call(client, method, path.format(id=owner_run.id), body)
    assert response.status_code in (200, 201), response.content


def test_an_unknown_id_looks_exactly_like_a_foreign_one(outsider_api, owner_job):
    foreign = outsider_api.get(f"/api/jobs/{owner_job.id}")
    unknown = outsider_api.get("/api/jobs/00000000-0000-0000-0000-000000000000")
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()


def test_lists_never_show_others_objects_and_admins_see_all(
    owner_api, outsider_api, admin_api, owner_run, outsider_job
):
    outsider_jobs = outsider_api.get("/api/jobs").json()["data"]["jobs"]
    assert [job["id"] for job in outsider_jobs] == [str(outsider_job.id)]
    assert outsider_api.get("/api/runs").json()["data"]["total"] == 0
    assert owner_api.get("/api/runs").json()["data"]["total"] == 1
    assert admin_api.get("/api/runs").json()["data"]["total"] == 1
    assert admin_api.get("/api/jobs").json()["data"]["total"] == Job.objects.count() == 2


def test_dashboard_stats_are_scoped_to_the_user(owner_api, outsider_api, admin_api, owner_run):
    assert owner_api.get("/api/dashboard/stats").json()["data"]["activeJobs"] == 1
    assert outsider_api.get("/api/dashboard/stats").json()["data"]["activeJobs"] == 0
    assert admin_api.get("/api/dashboard/stats").json()["data"]["activeJobs"] == 1


def test_localflow_tasks_and_schedules_are_admin_only(owner_api, owner_job, admin_api):
    task = admin_api.post(
        "/api/tasks", {"type": "shell", "payload": {"command": "true"}}, format="json"
    ).json()["data"]
    for method, url in [
        ("get", f"/api/tasks/{task['id']}"),
        ("post", "/api/tasks"),
        ("get", "/api/schedules"),
        ("post", "/api/schedules"),
        ("get", f"/api/schedules/{owner_job.id}"),
        ("put", f"/api/schedules/{owner_job.id}"),
        ("delete", f"/api/schedules/{owner_job.id}"),
    ]:
        response = getattr(owner_api, method)(url, {}, format="json")
        assert response.status_code == 403, url
    assert Job.objects.filter(pk=owner_job.pk).exists()
