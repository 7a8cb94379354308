"""The per-job limits in the API: admins set them, users see them and cannot change them (in
either mode: with or without a separate job user), values are checked, null is no limit."""

from __future__ import annotations

import pytest

from jobs.models import Job

pytestmark = pytest.mark.django_db

LIMITS = {
    "max_memory_mb": 256,
    "max_cpu_percent": 150,
    "max_cpu_sustain_seconds": 10,
    "max_processes": 20,
}


def test_an_admin_sets_and_clears_a_jobs_limits(admin_api, owner_job):
    data = admin_api.patch(f"/api/jobs/{owner_job.id}", LIMITS, format="json").json()["data"]
    assert {name: data[name] for name in LIMITS} == LIMITS

    cleared = dict.fromkeys(LIMITS)
    data = admin_api.patch(f"/api/jobs/{owner_job.id}", cleared, format="json").json()["data"]
    assert {name: data[name] for name in LIMITS} == cleared
    assert Job.objects.get(pk=owner_job.pk).max_memory_mb is None


def test_a_user_sees_the_limits_but_cannot_change_them(owner_api, owner_job):
    Job.objects.filter(pk=owner_job.pk).update(max_memory_mb=128)

    shown = owner_api.get(f"/api/jobs/{owner_job.id}").json()["data"]
    response = owner_api.patch(f"/api/jobs/{owner_job.id}", {"max_memory_mb": 4096}, format="json")

    assert shown["max_memory_mb"] == 128 and shown["max_processes"] is None
    assert response.status_code == 403
    assert "max_memory_mb" in response.json()["error"]
    assert Job.objects.get(pk=owner_job.pk).max_memory_mb == 128
    # sending the value it has is no change
    same = owner_api.patch(f"/api/jobs/{owner_job.id}", {"max_memory_mb": 128}, format="json")
    assert same.status_code == 200


def test_the_limits_stay_admin_only_when_jobs_run_apart(jobs_apart, owner_api, owner_job):
    response = owner_api.patch(f"/api/jobs/{owner_job.id}", {"max_processes": 500}, format="json")
    assert response.status_code == 403
    assert "max_processes" in response.json()["error"]


def test_limit_values_are_checked(admin_api, owner_job):
    response = admin_api.patch(
        f"/api/jobs/{owner_job.id}",
        {"max_memory_mb": 0, "max_cpu_percent": -5, "max_processes": 10**9},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["details"]) >= {"max_memory_mb", "max_cpu_percent", "max_processes"}
