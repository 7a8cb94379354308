"""`manage.py runjob`: runs a job in the terminal, prints its lines, exits with its status;
`--param NAME=value` values reach the script, bad ones exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobs.services import job_create
from runs.models import Run, RunStatus
from tests.factories import JobFactory, UserFactory
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


def test_params_reach_the_script_and_bad_ones_are_refused():
    job_create(
        created_by=UserFactory(),
        name="greet",
        script='echo "hello $TASKFLOW_PARAM_WHO x$TASKFLOW_PARAM_TIMES key=$TASKFLOW_PARAM_KEY"',
        params=[
            {"name": "WHO", "required": True},
            {"name": "TIMES", "type": "integer", "default": 1},
            {"name": "KEY", "secret": True},
        ],
    )
    result = _runjob("greet", "--param", "WHO=world", "--param", "TIMES=3", "--param", "KEY=s3")
    assert result.returncode == 0, result.stderr
    assert "hello world x3 key=***" in result.stdout
    run = Run.objects.get()
    assert run.params["WHO"] == "world" and run.params["TIMES"] == 3

    result = _runjob("greet", "--param", "TIMES=many", "--param", "NOPE=1")
    assert result.returncode == 2
    assert "runjob: parameter TIMES: The value must be a whole number." in result.stderr
    assert "runjob: parameter NOPE: Unknown parameter" in result.stderr
    assert "runjob: parameter WHO: Required" in result.stderr
    assert _runjob("greet", "--param", "WHO").returncode == 2
    assert Run.objects.count() == 1
