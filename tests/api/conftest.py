"""API test helpers: an owner's job and run with logs, clients for any token."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from jobs.services import job_next_run
from runs.logformat import encode_lines
from runs.models import LogChunk, RunStatus
from tests.factories import JobFactory, RunFactory, ScheduleFactory

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
CSRF_SECRET = "k" * 32  # a valid CSRF cookie value; the same string is a valid header token


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def login(username: str, password: str = PASSWORD, **extra):
    return APIClient().post(
        "/api/auth/login", {"username": username, "password": password}, format="json", **extra
    )


def add_log_lines(run, texts: list[str], stream: str = "stdout") -> None:
    first = run.log_lines + 1
    LogChunk.objects.create(
        run=run,
        first_line=first,
        last_line=first + len(texts) - 1,
        created_at=timezone.now(),
        data=encode_lines([(stream, index, text) for index, text in enumerate(texts)]),
    )
    run.log_lines = first + len(texts) - 1
    run.save(update_fields=["log_lines"])


@pytest.fixture
def owner_job(owner):
    job = JobFactory(name="owner-job", created_by=owner)
    ScheduleFactory(job=job, hours=[3], minutes=[0])
    job.next_run_at = job_next_run(job=job, after=timezone.now())
    job.save(update_fields=["next_run_at"])
    return job


@pytest.fixture
def outsider_job(outsider):
    return JobFactory(name="outsider-job", created_by=outsider)


@pytest.fixture
def owner_run(owner_job):
    now = timezone.now()
    run = RunFactory(
        job=owner_job,
        status=RunStatus.SUCCESS,
        exit_code=0,
        started_at=now,
        finished_at=now,
        duration_ms=1200,
    )
    add_log_lines(run, ["line one", "line two", "line three"])
    return run
