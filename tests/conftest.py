"""Shared fixtures: the three personas, API clients, and a file database for real processes."""

from __future__ import annotations

import ctypes

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import token_pair_for
from jobs.services import job_next_run
from runs.engine.process import PR_SET_CHILD_SUBREAPER
from runs.models import RunStatus
from taskflow_site.lib.jobuser import isolation
from tests.factories import AdminFactory, JobFactory, RunFactory, ScheduleFactory, UserFactory
from tests.support.clients import add_log_lines, logged_in


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, then at the end: on PostgreSQL, end the sessions this process's other
    threads still hold on the test database (Channels' sync thread, followers), which would
    otherwise make its DROP fail and leave it behind on the server."""
    yield
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            connection.close()


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """API throttles count in the cache; without this, one test's requests (same user id, same
    127.0.0.1) would count against the next test's 5 logins/min and 100 requests/min."""
    from django.core.cache import cache

    cache.clear()
    yield


def _set_subreaper(on: bool) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


@pytest.fixture
def subreaper():
    """This test process adopts the runs' orphans, as a drain worker does."""
    _set_subreaper(True)
    yield


@pytest.fixture(autouse=True)
def _no_subreaper_after():
    """A drain makes its process the runs' subreaper for good (runs.engine.drain): in this test
    process that would outlive the test, and later tests' orphans would come back here, to stay
    as zombies nobody collects."""
    yield
    _set_subreaper(False)


@pytest.fixture
def admin_user(db):
    return AdminFactory(username="admin")


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


def _client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(user)['access']}")
    return client


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def admin_api(admin_user):
    return _client_for(admin_user)


@pytest.fixture
def owner_api(owner):
    return _client_for(owner)


@pytest.fixture
def outsider_api(outsider):
    return _client_for(outsider)


@pytest.fixture
def processes(tmp_path):
    """Real child processes for this test; all stopped by PID at teardown."""
    from tests.support.processes import ProcessGroup

    group = ProcessGroup(tmp_path)
    yield group
    group.stop_all()


@pytest.fixture
def jobs_apart(settings):
    """Jobs run as a separate OS user ("nobody"), so owners may change what their jobs run
    (jobs.services.job_fields_refused). The suite runs as root, which may switch users."""
    settings.TASKFLOW = {**settings.TASKFLOW, "JOB_USER": "nobody"}
    isolation.cache_clear()
    if not isolation("nobody").separated:
        pytest.skip("switching users needs root or CAP_SETUID/CAP_SETGID/CAP_KILL")
    yield
    isolation.cache_clear()


# ---- the personas in the admin (session login) ----


@pytest.fixture
def admin_client(admin_user):
    return logged_in(admin_user)


@pytest.fixture
def owner_client(owner):
    return logged_in(owner)


@pytest.fixture
def outsider_client(outsider):
    return logged_in(outsider)


# ---- an owner's job and run with logs, and an outsider's job ----


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
