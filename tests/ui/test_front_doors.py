"""First run and the front doors: / and /admin/ lead to /setup while no user exists, then / and
/dashboard to the home; /api/ is an index of the API; what an operator never needs is hidden;
a user who may not create jobs is told why."""

from __future__ import annotations

import pytest

from accounts.models import User
from runs.models import RunStatus
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db


def test_a_fresh_install_leads_to_setup(client):
    assert not User.objects.exists()
    assert client.get("/")["Location"] == "/setup"
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/setup"
    assert client.get("/admin/login/")["Location"] == "/setup"


def test_once_a_user_exists_the_front_doors_lead_home(client, admin_user):
    assert client.get("/")["Location"] == "/admin/"
    assert client.get("/dashboard")["Location"] == "/admin/"
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/setup")["Location"] == "/admin/"


def test_the_api_root_is_an_index(api):
    response = api.get("/api/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    data = body["data"]
    assert data["schema"] == "/api/schema/" and data["docs"] == "/api/docs/"
    paths = {endpoint["path"]: endpoint for endpoint in data["endpoints"]}
    assert paths["/api/jobs"]["methods"] == ["GET", "POST"]
    assert paths["/api/jobs/{pk}/run"]["methods"] == ["POST"]
    assert "/api/dashboard/activity" in paths
    assert api.get("/api/nope").json()["code"] == "NOT_FOUND"  # still the JSON error body


def test_django_internals_are_not_in_the_admin(admin_client):
    index = admin_client.get("/admin/").content.decode()
    for hidden in ("/admin/auth/", "/admin/django_q/schedule/", "/admin/token_blacklist/"):
        assert hidden not in index
    assert admin_client.get("/admin/auth/group/").status_code == 404
    assert admin_client.get("/admin/django_q/schedule/").status_code == 404
    assert admin_client.get("/admin/token_blacklist/outstandingtoken/").status_code == 404
    # the admins' diagnostics link: django-q2's failed deliveries
    assert 'href="/admin/django_q/failure/"' in index
    assert admin_client.get("/admin/django_q/failure/").status_code == 200


def test_a_user_sees_why_they_cannot_create_jobs(owner_client, admin_client):
    page = owner_client.get("/admin/jobs/job/")
    assert b"data-tf-no-add" in page.content and b"Only administrators create jobs" in page.content
    assert b"Diagnostics" not in page.content
    assert b"data-tf-no-add" not in admin_client.get("/admin/jobs/job/").content


def test_the_admin_has_no_sidebar_squeezing_tables(admin_client):
    assert b'id="nav-sidebar"' not in admin_client.get("/admin/runs/run/").content


def test_the_lists_are_live(owner_client):
    for url in ("/admin/jobs/job/", "/admin/runs/run/"):
        assert b"taskflow/livelist.js" in owner_client.get(url).content


def test_the_job_list_filters_by_last_run(owner_client, owner):
    failed = RunFactory(job=JobFactory(name="broken", created_by=owner), status=RunStatus.FAILURE)
    RunFactory(job=JobFactory(name="fine", created_by=owner), status=RunStatus.SUCCESS)
    JobFactory(name="fresh", created_by=owner)
    names = {
        value: [
            job.name
            for job in owner_client.get(f"/admin/jobs/job/?last_run={value}")
            .context["cl"]
            .result_list
        ]
        for value in ("failed", "success", "never")
    }
    assert names == {"failed": [failed.job.name], "success": ["fine"], "never": ["fresh"]}


def test_with_single_sign_on_the_sign_in_page_stays_on_a_fresh_install(client, settings):
    settings.OIDC_ISSUER = "https://id.example.com"
    settings.OIDC_RP_CLIENT_ID = "taskflow"
    assert client.get("/")["Location"] == "/admin/"
    assert client.get("/admin/login/").status_code == 200
