"""The acceptance test of the security boundary, end to end with the real cluster, as root: a
plain user's job runs as a separate OS user and cannot read the server's keys — the JWT secret
file, any TaskFlow process's /proc/<pid>/environ, the database — so it cannot forge a token;
timeout, cancel and sampling still work on the job user's processes. Without a job user the
same script change is a 403 for the user."""

from __future__ import annotations

import pwd
import re
import secrets
import warnings
from datetime import timedelta
from pathlib import Path

import jwt
import psutil
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from runs.models import Run, RunStatus
from tests.factories import JobFactory
from tests.runs.helpers import lines
from tests.support.processes import child_env, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

THIEF = """\
echo "who: uid=$(id -u) user=$USER logname=$LOGNAME home=$HOME"
echo "jwt file: $(cat {data}/jwt_secret 2>&1)"
echo "key file: $(cat {data}/secret_key 2>&1)"
echo "database: $(head -c 16 {db} 2>&1)"
echo "parent environ: $(cat /proc/$PPID/environ 2>&1 | tr '\\0' ' ')"
for f in /proc/[0-9]*/environ; do
  if tr '\\0' ' ' < "$f" > /dev/null 2>&1; then
    echo "readable $f owner=$(stat -c %u "${{f%/environ}}") $(tr '\\0' ' ' < "$f")"
  fi
done
echo thief-done
"""


def _finished(run: Run) -> Run | None:
    return Run.objects.filter(pk=run.pk, status__in=RunStatus.finished()).first()


def _run(api: APIClient, job) -> Run:
    response = api.post(f"/api/jobs/{job.id}/run")
    assert response.status_code == 201, response.content
    return Run.objects.get(pk=response.json()["data"]["runId"])


def _run_to_end(api: APIClient, job) -> Run:
    run = _run(api, job)
    return wait_for(lambda: _finished(run), timeout=60, message=f"run of {job.name}")


def _alive(uid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["uids", "status"]):
        if proc.info["uids"].real == uid and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def _forged(user_id: int, key: str) -> str:
    now = timezone.now()
    claims = {
        "token_type": "access",
        "user_id": user_id,
        "role": "admin",
        "jti": secrets.token_hex(16),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    with warnings.catch_warnings():  # short guessed keys: the point is that they fail
        warnings.simplefilter("ignore")
        return jwt.encode(claims, key, algorithm="HS256")


@pytest.fixture
def cluster(processes, os_job_user):
    """The cluster, run as root (the server) with the job user and the server's secrets in its
    environment (what a thief would look for in /proc/<pid>/environ)."""
    markers = {
        "JWT_SECRET": f"env-jwt-{secrets.token_hex(8)}",
        "TASKFLOW_SECRET_KEY": f"env-key-{secrets.token_hex(8)}",
        "SMTP_PASSWORD": f"env-smtp-{secrets.token_hex(8)}",
    }
    env = child_env(
        TASKFLOW_JOB_USER=os_job_user,
        TASKFLOW_METRICS_INTERVAL="0.3",
        TASKFLOW_KILL_GRACE_SECONDS="1",
        **markers,
    )
    processes.manage("qcluster", "qcluster", env=env)
    return markers


def test_a_users_job_runs_apart_and_reads_none_of_the_servers_keys(
    cluster, jobs_as, owner, owner_api
):
    data = Path(settings.DATA_DIR)
    database = connection.settings_dict["NAME"]
    job = JobFactory(name="innocent", created_by=owner, script="echo hello", timeout_seconds=60)

    # the plain user turns the job into a thief: allowed, jobs run as another OS user
    script = THIEF.format(data=data, db=database)
    response = owner_api.patch(f"/api/jobs/{job.id}", {"script": script}, format="json")
    assert response.status_code == 200, response.content

    run = _run_to_end(owner_api, job)
    text = "\n".join(lines(run))
    assert "thief-done" in text, text

    uid = pwd.getpwnam(jobs_as).pw_uid
    assert f"who: uid={uid} user={jobs_as} logname={jobs_as} home=/nonexistent" in text
    server_secrets = [settings.SECRET_KEY, settings.SIMPLE_JWT["SIGNING_KEY"], *cluster.values()]
    for secret in server_secrets:
        assert secret not in text
    assert "SQLite format" not in text
    assert "Permission denied" in text.split("jwt file:", 1)[1].splitlines()[0]
    assert "Permission denied" in text.split("parent environ:", 1)[1].splitlines()[0]
    owners = {int(owner_uid) for owner_uid in re.findall(r"readable \S+ owner=(\d+)", text)}
    assert owners <= {uid}, f"read the environment of another user's process: {owners}"

    # nothing it saw signs a token the API accepts
    candidates = {word for word in re.split(r"\s+", text) if len(word) >= 16}
    for key in [*candidates, "secret", "taskflow"]:
        forged = APIClient()
        forged.credentials(HTTP_AUTHORIZATION=f"Bearer {_forged(owner.pk, key)}")
        assert forged.get("/api/users").status_code == 401


def test_timeout_cancel_and_sampling_work_on_the_job_users_processes(
    cluster, jobs_as, owner, owner_api
):
    uid = pwd.getpwnam(jobs_as).pw_uid

    slow = JobFactory(name="slow", created_by=owner, script="sleep 300", timeout_seconds=1)
    assert _run_to_end(owner_api, slow).status == RunStatus.TIMEOUT

    stuck = JobFactory(
        name="stuck",
        created_by=owner,
        script="(setsid sleep 300 &); echo started; sleep 300",
        timeout_seconds=600,
    )
    run = _run(owner_api, stuck)
    wait_for(lambda: "started" in lines(run, "stdout"), timeout=60, message="the stuck job")
    assert owner_api.post(f"/api/runs/{run.id}/cancel").status_code == 200
    cancelled = wait_for(lambda: _finished(run), timeout=60, message="the cancel")
    assert cancelled.status == RunStatus.CANCELLED
    assert not _alive(uid)  # the escaped `setsid sleep` included

    busy = JobFactory(
        name="busy",
        created_by=owner,
        script="end=$((SECONDS+3)); while [ $SECONDS -lt $end ]; do :; done",
        timeout_seconds=60,
    )
    sampled = _run_to_end(owner_api, busy)
    assert sampled.status == RunStatus.SUCCESS
    assert sampled.cpu_percent_max and sampled.cpu_percent_max > 20
    assert sampled.memory_bytes_max and sampled.memory_bytes_max > 0


def test_without_a_job_user_the_script_change_is_a_403_for_the_user(owner, owner_api, settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "JOB_USER": None}
    job = JobFactory(name="innocent", created_by=owner, script="echo hello")
    script = THIEF.format(data=settings.DATA_DIR, db=connection.settings_dict["NAME"])
    response = owner_api.patch(f"/api/jobs/{job.id}", {"script": script}, format="json")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "UNAUTHORIZED"
    assert list(body["details"]) == ["script"]
    job.refresh_from_db()
    assert job.script == "echo hello"
