"""Per-job limits, enforced by the executor's monitor: memory of the whole tree, CPU % over a
sustain window, number of processes. A run over one ends `failure` with a reason naming the
limit and what it measured, and leaves no process. Real bash through the real executor."""

from __future__ import annotations

import time

import pytest

from jobs.models import Job
from runs.models import RunStatus
from runs.spec import Limits, RunSpec
from tests.runs.helpers import leftovers, lines, run_job, run_script

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

# holds 300 MB in a grandchild (bash -> sh -> python3) until killed
HOG = (
    "sh -c \"python3 -c 'import time\nblock = bytearray(300 * 1024 * 1024)\ntime.sleep(60)'"
    '; true" & wait'
)
BUSY = "python3 -c 'while True: pass'"


def test_a_run_over_its_memory_limit_is_stopped_and_says_so():
    began = time.monotonic()
    run = run_script(HOG, limits=Limits(max_memory_mb=100))

    assert run.status == RunStatus.FAILURE
    assert run.error_message.startswith("memory limit exceeded: "), run.error_message
    assert "(max_memory_mb 100)" in run.error_message
    used = int(run.error_message.split(": ")[1].split()[0])  # "... exceeded: 301 MiB in use"
    assert used > 100
    assert time.monotonic() - began < 30  # stopped, not left to sleep its minute
    assert leftovers(run) == []
    assert any("sending SIGKILL" in line for line in lines(run, "system"))


def test_the_cpu_limit_waits_for_its_sustain_window():
    began = time.monotonic()
    run = run_script(BUSY, limits=Limits(max_cpu_percent=10, max_cpu_sustain_seconds=2))

    took = time.monotonic() - began
    assert run.status == RunStatus.FAILURE
    assert run.error_message.startswith("CPU limit exceeded: "), run.error_message
    assert "(max_cpu_percent 10 for 2 s)" in run.error_message
    spell = float(run.error_message.split(" for ")[1].split()[0])  # "... % for 2.1 s (..."
    assert spell >= 2
    assert 2 <= took < 30
    assert leftovers(run) == []


def test_bursts_shorter_than_the_sustain_window_are_allowed():
    burst = (
        "python3 -c 'import time\nstart = time.process_time()\n"
        "while time.process_time() < start + 0.3: pass'"
    )
    run = run_script(
        f"{burst}; sleep 1; {burst}; sleep 1; {burst}",
        limits=Limits(max_cpu_percent=10, max_cpu_sustain_seconds=4),
    )

    assert run.status == RunStatus.SUCCESS, run.error_message


def test_a_run_with_too_many_processes_is_stopped():
    run = run_script(
        "for i in $(seq 1 12); do sleep 30 & done; wait", limits=Limits(max_processes=5)
    )

    assert run.status == RunStatus.FAILURE
    assert run.error_message.startswith("process limit exceeded: "), run.error_message
    assert run.error_message.endswith("processes (max_processes 5)")
    assert int(run.error_message.split(": ")[1].split()[0]) > 5
    assert leftovers(run) == []


def test_a_run_within_its_limits_is_left_alone():
    run = run_script(
        "echo fine; sleep 0.5",
        limits=Limits(max_memory_mb=500, max_cpu_percent=90, max_processes=20),
    )

    assert run.status == RunStatus.SUCCESS
    assert lines(run, "stdout") == ["fine"]


def test_a_jobs_limits_travel_with_its_run(owner):
    job = Job.objects.create(
        name="capped",
        script=HOG,
        created_by=owner,
        max_memory_mb=64,
        max_cpu_percent=None,
        max_processes=50,
    )

    run = run_job(job)

    assert run.spec["limits"] == {"max_memory_mb": 64, "max_processes": 50}
    assert RunSpec.from_json(run.spec).limits == Limits(max_memory_mb=64, max_processes=50)
    assert run.status == RunStatus.FAILURE
    assert "(max_memory_mb 64)" in run.error_message


def test_a_run_without_limits_keeps_the_spec_it_always_had():
    assert "limits" not in RunSpec(kind="shell", script="true").to_json()
