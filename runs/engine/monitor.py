"""The executor's monitor: it reads a run's tree on its own clock, keeps the samples that are
stored, and stops a run over one of its job's limits (docs/architecture.md, record 5).

The first sample is taken FIRST_SAMPLE_SECONDS after the start, so a short run has one; then
one every METRICS_INTERVAL. The tree is also read a few ms after the spawn (EARLY_READS), so
a run shorter than that still has a figure of its own memory (and gets one sample from its
totals); a run over before the first of those has none (its CPU time is the kernel's).
A run with limits is read every LIMIT_READ_SECONDS in between. A limit is broken when the
tree's resident memory is over max_memory_mb, when it has more than max_processes processes,
or when its CPU % stays over max_cpu_percent for max_cpu_sustain_seconds; where the run has a
cgroup, also when the kernel's own memory.max or pids.max stopped something in it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from runs.engine.cgroup import RunCgroup
from runs.engine.process import own_children
from runs.engine.resources import (
    Account,
    Reading,
    TreeSampler,
    cpu_percent,
    memory_percent,
    own_peak_rss,
)
from runs.spec import Limits

FIRST_SAMPLE_SECONDS = 0.1
# looks between the spawn and the first sample: a run of a few ms is still seen (its memory)
EARLY_READS = (0.005, 0.03)
LIMIT_READ_SECONDS = 0.25
CPU_WINDOW_SECONDS = 0.2
MIB = 1024 * 1024
# after a kill, the run's orphans (ours to collect, as their subreaper) get this long in all to
# finish exiting before the run ends; one still exiting after that is collected after a later
# run (the drain's reap_zombies)
ORPHANS_EXIT_SECONDS = 5.0


class Monitor:
    def __init__(self, sampler: TreeSampler, *, every: float, limits: Limits, cgroup=None):
        self.sampler = sampler
        self.every = every
        self.limits = limits
        self.cgroup = cgroup
        self.read_every = min(every, LIMIT_READ_SECONDS) if limits else every
        # the first look is EARLY_READS[0] after the spawn
        self.last = self.stored_from = self.cpu_from = sampler.spawned()
        self.peak_rss = self.last.rss
        self.samples: list[tuple[float, int]] = []  # (cpu %, rss) of each stored sample
        start = time.monotonic()
        self.next_store = start + FIRST_SAMPLE_SECONDS
        self.early = [start + offset for offset in EARLY_READS]
        self.next_read = self.early.pop(0)
        self.over_since: Reading | None = None  # where the current spell over the CPU limit began

    def tick(self, now: float) -> tuple[tuple[float, int, float] | None, str | None]:
        """If a read is due: (the sample to store now as (cpu %, rss, memory %), or None;
        the broken limit's message, or None)."""
        if now < self.next_read:
            return None, None
        self.next_read = min(now + self.read_every, self.next_store)
        if self.early:
            self.next_read = self.early.pop(0)
        reading = self.sampler.read(exact=not self.samples)  # until the first sample
        if reading is None:
            return None, self._kernel_stop()
        self.last = reading
        self.peak_rss = max(self.peak_rss, reading.rss)
        breach = self._kernel_stop() or self._over(reading)
        if now < self.next_store:
            return None, breach
        self.next_store = now + self.every
        cpu = cpu_percent(self.stored_from, reading) if self.stored_from else 0.0
        self.stored_from = reading
        self.samples.append((cpu, reading.rss))
        return (cpu, reading.rss, memory_percent(reading.rss)), breach

    def _over(self, reading: Reading) -> str | None:
        limits = self.limits
        if limits.max_memory_mb is not None and reading.rss > limits.max_memory_mb * MIB:
            return (
                f"memory limit exceeded: {reading.rss / MIB:.0f} MiB in use "
                f"(max_memory_mb {limits.max_memory_mb})"
            )
        if limits.max_processes is not None and reading.processes > limits.max_processes:
            return (
                f"process limit exceeded: {reading.processes} processes "
                f"(max_processes {limits.max_processes})"
            )
        if limits.max_cpu_percent is None:
            return None
        start = self.cpu_from
        if start is not None and reading.at - start.at < CPU_WINDOW_SECONDS:
            return None  # CPU time moves in 10 ms ticks: judge windows long enough
        self.cpu_from = reading
        if start is None or cpu_percent(start, reading) <= limits.max_cpu_percent:
            self.over_since = None
            return None
        self.over_since = self.over_since or start
        spell = reading.at - self.over_since.at
        sustain = limits.max_cpu_sustain_seconds or 0
        if spell < sustain:
            return None
        return (
            f"CPU limit exceeded: {cpu_percent(self.over_since, reading):.0f} % for {spell:.1f} s "
            f"(max_cpu_percent {limits.max_cpu_percent} for {sustain} s)"
        )

    def _kernel_stop(self) -> str | None:
        """What the cgroup's own limits did (the kernel enforces them between reads)."""
        if self.cgroup is None:
            return None
        limits = self.limits
        if limits.max_memory_mb is not None and self.cgroup.event("memory.events", "oom_kill"):
            peak = self.cgroup.memory_peak() or self.peak_rss
            return (
                f"memory limit exceeded: the kernel stopped a process at {peak / MIB:.0f} MiB "
                f"(max_memory_mb {limits.max_memory_mb})"
            )
        if limits.max_processes is not None and self.cgroup.event("pids.events", "max"):
            return (
                f"process limit exceeded: a new process was refused at {limits.max_processes} "
                f"(max_processes {limits.max_processes})"
            )
        return None


class Usage:
    """What one run's processes used, from its spawn to its summary: the kernel's account of
    what was reaped, the run's cgroup where there is one, and the monitor in between."""

    def __init__(self, run_id: str, *, every: float, limits: Limits):
        self.run_id = run_id
        self.every = every
        self.limits = limits
        self.cgroup: RunCgroup | None = None
        self.account: Account | None = None
        self.monitor: Monitor | None = None
        self.foreign: set[int] = set()  # our children from before the run: not its own
        self.inherited = 0  # the worker's peak resident memory at the spawn
        self.spawned = self.exited = 0.0  # time.monotonic()
        self.kernel: tuple[float, int | None] | None = None  # the cgroup's (cpu.stat, peak)
        self.killed = False  # what the run left behind was killed: its orphans are exiting

    @contextlib.contextmanager
    def spawning(self) -> Iterator[None]:
        """Around the spawn of the run's child: in the run's cgroup when it has one."""
        self.cgroup = RunCgroup.create(self.run_id)
        self.foreign = set(own_children())
        self.inherited = own_peak_rss()
        self.spawned = time.monotonic()  # the child's CPU time starts inside Popen
        joining = self.cgroup.entered() if self.cgroup else contextlib.nullcontext(False)
        try:
            with joining as joined:
                if not joined:
                    self._drop_cgroup()
                yield
        except BaseException:  # nothing started: no cgroup left behind
            self._drop_cgroup()
            raise

    def _drop_cgroup(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None

    def started(self, pid: int) -> None:
        self.account = Account(root=pid, inherited_rss=self.inherited, foreign=self.foreign)
        if self.cgroup is not None:
            self.cgroup.limit(
                memory_mb=self.limits.max_memory_mb, processes=self.limits.max_processes
            )
        sampler = TreeSampler(self.account, cgroup=self.cgroup)
        self.monitor = Monitor(sampler, every=self.every, limits=self.limits, cgroup=self.cgroup)

    @property
    def next_read(self) -> float:
        return self.monitor.next_read if self.monitor else float("inf")

    def child_exited(self, rusage) -> None:
        self.exited = time.monotonic()
        if rusage is not None:
            self.account.add(rusage, root=True)

    def leftovers(self) -> None:
        """Before what the run left behind is killed: read it (what it used so far counts)."""
        self.killed = True
        if self.monitor is not None:
            self.monitor.sampler.read()

    def kill(self) -> None:
        self.killed = True
        if self.cgroup is not None:
            self.cgroup.kill()

    def finish(self) -> None:
        """After the kill: the last orphans reaped and counted (none left a zombie of ours),
        the cgroup read and removed."""
        if self.account is None:
            return
        self.account.reap_orphans(within=ORPHANS_EXIT_SECONDS if self.killed else 0.0)
        if self.cgroup is not None:
            self.cgroup.kill()
            self.kernel = self.cgroup.cpu_seconds(), self.cgroup.memory_peak()
            self.cgroup.remove()

    def summary(self) -> dict:
        """The run's figures: CPU seconds (kernel-accounted), average and peak CPU %, average
        and peak resident memory (empty for a run without a process)."""
        if self.monitor is None:
            return {}
        monitor, account = self.monitor, self.account
        last = monitor.sampler.last
        cpu_seconds = max(account.cpu_seconds, last.cpu_seconds if last else 0.0)
        peak = max(monitor.peak_rss, account.peak_rss)
        if self.kernel is not None:  # the cgroup saw everything, escapees included
            cpu_seconds = self.kernel[0] or cpu_seconds
            peak = self.kernel[1] or peak
        wall = max((self.exited or time.monotonic()) - self.spawned, 1e-3)
        average = cpu_seconds * 100 / wall
        samples = monitor.samples
        return {
            "cpu_seconds": cpu_seconds,
            "cpu_avg": average,
            "cpu_max": max([average, *(cpu for cpu, _ in samples)]),
            # a run over before it could be seen has no memory figure: none is better than
            # one inherited from the worker
            "mem_avg": int(sum(rss for _, rss in samples) / len(samples))
            if samples
            else peak or None,
            "mem_max": peak or None,
        }

    def only_sample(self, figures: dict) -> tuple[float, int, float] | None:
        """The one sample of a run that ended before its first (if it was seen at all)."""
        if not figures or not figures["mem_max"] or self.monitor.samples:
            return None
        return figures["cpu_avg"], figures["mem_max"], memory_percent(figures["mem_max"])
