"""Resource samples read what the job really uses: one busy core ~100 %, 200 MB held by the
script or by its grandchild counted in full. Real bash through the real executor."""

from __future__ import annotations

import statistics

import pytest

from metrics.models import MetricSample
from metrics.services import run_metrics
from runs.models import RunStatus
from tests.runs.helpers import lines, run_script

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# prints the CPU time it used and the share of one core it got: less than 100 % when the two
# shared cores are busy
BURN = (
    "python3 -c 'import time\nstart = time.time()\nwhile time.time() < start + 4: pass\n"
    'print("used", time.process_time(), time.process_time() / (time.time() - start))\''
)
HOLD = (
    'python3 -c \'import time\nblock = b"x" * (210 * 1024 * 1024)\ntime.sleep(3)\n'
    "print(len(block))'"
)


@pytest.fixture(autouse=True)
def quick_samples(settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "METRICS_INTERVAL": 0.5}


def test_it_reads_one_busy_core_as_about_100_percent():
    run = run_script(BURN)

    used, share = map(float, next(t for t in lines(run) if t.startswith("used ")).split()[1:])
    cpu = list(MetricSample.objects.filter(run=run).values_list("cpu_percent", flat=True))
    assert run.status == RunStatus.SUCCESS
    assert len(cpu) >= 5
    # the kernel's account of the whole run: the burner's own CPU time plus python's start-up
    assert used <= run.cpu_seconds <= used + 0.3, (run.cpu_seconds, used)
    # the samples tile the run: on average they read the share of a core the burner really
    # had, whatever the load did meanwhile (the last one may cover python's exit)
    assert abs(statistics.mean(cpu[:-1]) - 100 * share) <= 15, (cpu, share)
    assert max(cpu) <= 115, cpu
    assert run.cpu_percent_max >= max(cpu)


def test_it_counts_the_memory_the_script_holds():
    run = run_script(HOLD)

    assert run.status == RunStatus.SUCCESS
    assert run.memory_bytes_max >= 200 * 1024 * 1024
    peak = max(s["memoryBytes"] for s in run_metrics(run=run)["samples"])
    assert peak >= 200 * 1024 * 1024


def test_it_counts_memory_held_by_a_grandchild():
    # bash -> sh -> python3: `; true` keeps sh from exec'ing python in its place
    run = run_script(f'sh -c "{HOLD.replace(chr(34), chr(92) + chr(34))}; true" & wait')

    assert run.status == RunStatus.SUCCESS
    assert run.memory_bytes_max >= 200 * 1024 * 1024
    assert max(MetricSample.objects.filter(run=run).values_list("memory_bytes", flat=True)) >= (
        200 * 1024 * 1024
    )
