"""What a run used, truthfully: the kernel's CPU time of its whole tree (children it waited
for, orphans the executor reaps as subreaper), memory of the script's tree and never of the
worker, a first sample soon after the start. Real bash through the real executor."""

from __future__ import annotations

import sys

import pytest

from runs.models import RunStatus
from tests.runs.helpers import run_script

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

MIB = 1024 * 1024
# burns `seconds` of CPU time (not wall time: the same on an idle or a loaded machine); the
# interpreter by its path and without site (-S): `python3` on PATH may be a version manager's
# shell shim, whose own start-up costs ~0.2 s of CPU per process
BURN = (
    f"{sys.executable} -S -c 'import time\nstart = time.process_time()\n"
    "while time.process_time() < start + {seconds}: pass'"
)


@pytest.mark.parametrize("script", ["true", "sleep 0.01"])
def test_a_tiny_run_reports_the_script_not_the_worker(script):
    run = run_script(script)

    assert run.status == RunStatus.SUCCESS
    assert run.cpu_seconds < 0.05  # the script's own start-up, not the worker's
    assert run.cpu_percent_max < 100
    # seen at its spawn: its own few hundred KiB; a process over before anyone could look (a
    # loaded machine) has no memory figure rather than the worker's 100 MiB
    assert run.memory_bytes_max is None or run.memory_bytes_max < 20 * MIB


def test_a_short_run_has_one_sample_of_its_own():
    run = run_script("sleep 0.15")

    (sample,) = run.samples.all()
    assert 0 < sample.memory_bytes <= run.memory_bytes_max < 20 * MIB
    assert sample.cpu_percent < 50


def test_six_short_busy_children_count_in_full():
    burn = BURN.format(seconds=0.5)
    run = run_script(f"for i in 1 2 3 4 5 6; do {burn} & done; wait")

    assert run.status == RunStatus.SUCCESS
    # 6 x 0.5 s of CPU plus six python start-ups
    assert 2.9 <= run.cpu_seconds <= 4.0, run.cpu_seconds


def test_orphans_reaped_as_subreaper_count_too(subreaper):
    burn = BURN.format(seconds=0.1)
    # each burner's parent (the subshell) exits at once: the executor adopts and reaps it
    run = run_script(f"for i in 1 2 3 4 5 6; do ({burn} &); done; sleep 3")

    assert run.status == RunStatus.SUCCESS
    assert 0.55 <= run.cpu_seconds <= 1.5, run.cpu_seconds


def test_samples_read_the_scripts_tree_from_the_first_100_ms(settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "METRICS_INTERVAL": 10}
    run = run_script("sleep 0.6")

    (first,) = run.samples.all()  # the one at ~100 ms; the next would be 10 s later
    assert (first.timestamp - run.started_at).total_seconds() < 2
    assert first.memory_bytes < 20 * MIB
    assert first.cpu_percent < 50
