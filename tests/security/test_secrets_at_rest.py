"""Job secrets encrypted at rest like the SMTP password; a run keeps a reference (the names),
never a copy, and reads the values when it starts; the migrations seal what older versions
stored in clear."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from jobs.models import Job
from jobs.secrets import job_secret_values, secrets_open, secrets_seal
from runs.models import Run
from runs.services import run_enqueue
from tests.factories import JobFactory
from tests.runs.helpers import execute, lines

pytestmark = pytest.mark.django_db


def test_the_api_stores_secret_values_encrypted(admin_api, owner_job):
    response = admin_api.patch(
        f"/api/jobs/{owner_job.id}", {"secret_env_vars": {"TOKEN": "s3cret-value"}}, format="json"
    )
    assert response.status_code == 200
    raw = Job.objects.filter(pk=owner_job.pk).values_list("secret_env_vars", flat=True).get()
    assert "s3cret-value" not in str(raw)
    assert secrets_open(raw) == {"TOKEN": "s3cret-value"}


def test_an_unchanged_value_keeps_its_stored_form():
    stored = secrets_seal({"A": "1", "B": "2"}, stored={})
    again = secrets_seal({"A": "1", "B": "3"}, stored=stored)
    assert again["A"] == stored["A"] and again["B"] != stored["B"]


def test_a_run_keeps_the_names_and_reads_the_values_when_it_starts():
    job = JobFactory(script="echo token=$TOKEN; echo $TOKEN", secret_env_vars={"TOKEN": "old"})
    run, _ = run_enqueue(job=job, trigger_type="manual")
    assert run.spec["secret_refs"] == ["TOKEN"]
    assert "old" not in str(run.spec)
    job.secret_env_vars = secrets_seal({"TOKEN": "rotated-value"}, stored=job.secret_env_vars)
    job.save(update_fields=["secret_env_vars"])
    finished = execute(run)
    assert lines(finished, "stdout") == ["token=***", "***"]  # the new value, masked


def _migration(app: str, name: str):
    return importlib.import_module(f"{app}.migrations.{name}")


def test_the_migrations_seal_clear_values_and_drop_copies_from_runs():
    job = JobFactory()
    Job.objects.filter(pk=job.pk).update(secret_env_vars={"TOKEN": "clear-value"})
    run, _ = run_enqueue(job=job, trigger_type="manual")
    old_spec = {**run.spec, "secret_env": {"TOKEN": "clear-value"}}
    old_spec.pop("secret_refs")
    Run.objects.filter(pk=run.pk).update(spec=old_spec)

    _migration("jobs", "0002_run_as_and_sealed_secrets").seal(apps, None)
    _migration("runs", "0007_spec_secret_refs").to_refs(apps, None)

    job.refresh_from_db()
    run.refresh_from_db()
    assert "clear-value" not in str(job.secret_env_vars)
    assert job_secret_values(job) == {"TOKEN": "clear-value"}
    assert "clear-value" not in str(run.spec)
    assert run.spec["secret_refs"] == ["TOKEN"] and "secret_env" not in run.spec
