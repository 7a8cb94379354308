"""`manage.py runjob`: runs a job in the terminal, prints its lines, exits with its status."""

from __future__ import annotations

import subprocess
import sys

import pytest

from runs.models import Run, RunStatus
from tests.factories import JobFactory
from tests.support.processes import ROOT, child_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _runjob(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "runjob", *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_prints_the_log_and_exits_with_the_status():
    JobFactory(name="greet", script="echo hello; echo oops >&2; exit 3")
    result = _runjob("greet")
    assert result.returncode == 1
    assert "hello" in result.stdout
    assert "oops" in result.stderr
    assert "[taskflow] exit code 3" in result.stdout
    run = Run.objects.get()
    assert (run.status, run.trigger_type) == (RunStatus.FAILURE, "manual")


def test_it_maps_timeout_and_usage_errors_to_exit_codes():
    job = JobFactory(name="slow", script="sleep 30", timeout_seconds=1)
    assert _runjob(str(job.pk)).returncode == 124
    assert _runjob("no-such-job").returncode == 2


def test_it_only_queues_with_no_wait():
    JobFactory(name="later", script="true")
    result = _runjob("later", "--no-wait")
    assert result.returncode == 0
    assert Run.objects.get().status == RunStatus.PENDING
