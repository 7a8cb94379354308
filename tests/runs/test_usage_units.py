"""The monitor's rules without real processes (a scripted tree): the CPU limit's sustain
window, what a child's inherited ru_maxrss is worth, and the run cgroup's files. The real
cgroup path runs where this machine has a delegated cgroup v2 hierarchy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from runs.engine import cgroup
from runs.engine.cgroup import RunCgroup
from runs.engine.monitor import Monitor
from runs.engine.resources import Account, Reading
from runs.models import RunStatus
from runs.spec import Limits
from tests.runs.helpers import leftovers, run_script

MIB = 1024 * 1024


class ScriptedTree:
    """A sampler whose readings are given: (seconds after the start, CPU % since the last)."""

    def __init__(self, steps):
        self.steps = list(steps)
        self.cpu = 0.0
        self.at = 0.0
        self.last = None

    def spawned(self):
        return self.read()  # the first step: the start

    def read(self, exact=False):
        if not self.steps:
            return Reading(self.at, self.cpu, MIB, 1)
        at, percent = self.steps.pop(0)
        self.cpu += (at - self.at) * percent / 100
        self.at = at
        self.last = Reading(at, self.cpu, MIB, 1)
        return self.last


def breach_time(steps, limits):
    tree = ScriptedTree([(0.0, 0.0), *steps])
    monitor = Monitor(tree, every=10, limits=limits)
    monitor.early = []
    for at, _ in steps:
        monitor.next_read = 0
        _, breach = monitor.tick(at)
        if breach:
            return at, breach
    return None, None


def test_the_cpu_limit_fires_only_after_its_sustain_window():
    steps = [(0.25 * n, 150.0) for n in range(1, 20)]
    at, breach = breach_time(steps, Limits(max_cpu_percent=100, max_cpu_sustain_seconds=2))
    assert at == 2.0
    assert breach == "CPU limit exceeded: 150 % for 2.0 s (max_cpu_percent 100 for 2 s)"


def test_a_dip_under_the_cpu_limit_starts_the_window_again():
    steps = [(0.25 * n, 20.0 if n == 6 else 150.0) for n in range(1, 20)]  # dip at 1.25-1.5 s
    at, _ = breach_time(steps, Limits(max_cpu_percent=100, max_cpu_sustain_seconds=2))
    assert at == 3.5


def test_without_a_sustain_window_the_first_window_over_fires():
    at, breach = breach_time([(0.25, 30.0), (0.5, 180.0)], Limits(max_cpu_percent=100))
    assert (at, breach.split(":")[0]) == (0.5, "CPU limit exceeded")


def test_a_childs_ru_maxrss_counts_only_above_what_it_inherited():
    account = Account(root=1, inherited_rss=100 * MIB, foreign=set())
    usage = SimpleNamespace(ru_utime=0.25, ru_stime=0.05, ru_maxrss=90 * 1024)  # KiB
    account.add(usage, root=True)
    assert (account.cpu_seconds, account.peak_rss) == (pytest.approx(0.3), 0)
    account.add(SimpleNamespace(ru_utime=1.0, ru_stime=0.0, ru_maxrss=150 * 1024), root=True)
    assert account.peak_rss == 150 * MIB  # larger than the worker's: the script's own
    account.add(SimpleNamespace(ru_utime=0.0, ru_stime=0.0, ru_maxrss=5 * 1024))
    assert account.peak_rss == 150 * MIB  # an orphan's own figure counts as it is


def test_a_run_cgroup_writes_its_limits_and_reads_the_kernels_figures(tmp_path):
    (tmp_path / "cpu.stat").write_text("usage_usec 2987654\nuser_usec 2000000\n")
    (tmp_path / "memory.peak").write_text("52428800\n")
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (tmp_path / "pids.events").write_text("max 0\n")
    (tmp_path / "cgroup.procs").write_text("12\n34\n")
    run_cgroup = RunCgroup(str(tmp_path))

    run_cgroup.limit(memory_mb=256, processes=10)

    assert (tmp_path / "memory.max").read_text() == str(256 * MIB)
    assert (tmp_path / "pids.max").read_text() == "10"
    assert run_cgroup.cpu_seconds() == pytest.approx(2.987654)
    assert run_cgroup.memory_peak() == 50 * MIB
    assert (
        run_cgroup.event("memory.events", "oom_kill"),
        run_cgroup.event("pids.events", "max"),
    ) == (
        1,
        0,
    )
    assert run_cgroup.pids() == [12, 34]


NO_CGROUP = cgroup.why_not()


@pytest.mark.django_db
@pytest.mark.e2e
@pytest.mark.skipif(NO_CGROUP is not None, reason=f"runs get no cgroup here: {NO_CGROUP}")
def test_in_a_delegated_cgroup_the_kernel_counts_and_limits_the_run():
    busy = (
        "python3 -c 'import time\nstart = time.process_time()\n"
        "while time.process_time() < start + 0.5: pass'"
    )
    counted = run_script(f"for i in 1 2 3 4 5 6; do (setsid {busy} &); done; sleep 4")
    assert 2.9 <= counted.cpu_seconds <= 4.0  # escaped processes too: cpu.stat has them all

    hog = "python3 -c 'import time\nblock = bytearray(300 * 1024 * 1024)\ntime.sleep(60)'"
    stopped = run_script(hog, limits=Limits(max_memory_mb=100))
    assert stopped.status == RunStatus.FAILURE
    assert stopped.error_message.startswith("memory limit exceeded")
    assert leftovers(stopped) == []
