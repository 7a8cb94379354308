"""The per-job limits in the admin's job editor: an admin edits them, a user sees them read-only
and a posted value from a user changes nothing."""

from __future__ import annotations

import pytest

from jobs.models import Job
from tests.factories import JobFactory
from tests.jobs.test_admin_scope import job_form

pytestmark = pytest.mark.django_db


def test_an_admin_edits_the_limits_in_the_editor(admin_client, owner):
    job = JobFactory(created_by=owner)
    limits = {"max_memory_mb": "512", "max_cpu_percent": "200", "max_processes": "30"}

    response = admin_client.post(f"/admin/jobs/job/{job.pk}/change/", job_form(job, **limits))

    assert response.status_code == 302, response.context["adminform"].form.errors
    job.refresh_from_db()
    assert (job.max_memory_mb, job.max_cpu_percent, job.max_processes) == (512, 200, 30)
    assert job.max_cpu_sustain_seconds is None


def test_a_user_sees_the_limits_read_only(owner_client, owner, jobs_apart):
    job = JobFactory(created_by=owner, max_memory_mb=64)

    page = owner_client.get(f"/admin/jobs/job/{job.pk}/change/")
    form = page.context["adminform"].form
    response = owner_client.post(
        f"/admin/jobs/job/{job.pk}/change/", job_form(job, max_memory_mb="4096")
    )

    assert "max_memory_mb" not in form.fields
    assert "Limits" in page.content.decode()
    assert response.status_code == 302
    assert Job.objects.get(pk=job.pk).max_memory_mb == 64
