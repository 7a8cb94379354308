"""What a run's processes use: samples of its tree and the kernel's accounting of what it
reaped (docs/architecture.md, record 5). No Django here.

CPU time is exact. wait4() gives the rusage of the run's child together with every
descendant it waited for; the executor, a child subreaper, reaps each orphan re-parented to it
with wait4() too and adds that (Account). Between those, the tree is read from /proc: the
child, its descendants and those orphans, never the worker itself, each process counted with
the CPU time of the children it has waited for, so a process that lived less than one sample
interval still counts in the next one.

Peak memory is the larger of the tree's largest resident total seen and the largest
ru_maxrss of what was reaped. The child's own ru_maxrss starts from the worker's: a child
forked (or vforked) from the worker carries the worker's high-water mark into its exec, so it
is a figure of the child's only when it is larger than the worker's peak at the spawn.
"""

from __future__ import annotations

import os
import resource
import select
import time
from dataclasses import dataclass

from runs.engine.process import TOTAL_MEMORY, own_children

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Reading:
    """The run's tree at one instant."""

    at: float  # time.monotonic()
    cpu_seconds: float  # since the start, everything of the run (cumulative)
    rss: int  # resident bytes of its live processes
    processes: int  # live processes


def own_peak_rss() -> int:
    """This process's high-water resident memory, bytes: the kernel's ru_maxrss, at least
    its VmHWM (one system call; reading /proc/self/status costs ~0.1 ms on some kernels, at
    every spawn)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Account:
    """The kernel's own figures for what the run's reaped processes used."""

    def __init__(self, *, root: int, inherited_rss: int, foreign: set[int]):
        self.root = root
        self.inherited_rss = inherited_rss  # the worker's peak when it spawned the child
        self.foreign = foreign  # children this process had before the run (not the run's)
        self.cpu_seconds = 0.0
        self.peak_rss = 0

    def add(self, rusage, *, root: bool = False) -> None:
        self.cpu_seconds += rusage.ru_utime + rusage.ru_stime
        rss = int(rusage.ru_maxrss) * 1024
        if not root or rss > self.inherited_rss:
            self.peak_rss = max(self.peak_rss, rss)

    def orphans(self) -> list[int]:
        """The run's processes re-parented to us: our children but the child and the ones we
        had before the run (a drain runs one run at a time)."""
        return [pid for pid in own_children() if pid != self.root and pid not in self.foreign]

    def reap_orphans(self, *, within: float = 0.0) -> list[int]:
        """Collect (and count) every orphan that has exited; with `within`, first wait up to
        that long in all for the others to exit (after a kill: they are on their way out, and
        a large one takes a while to give its memory back). Returns the orphans still alive."""
        deadline = time.monotonic() + within
        alive = []
        for pid in self.orphans():
            if within:
                wait_exit(pid, deadline - time.monotonic())
            if not self.reap(pid):
                alive.append(pid)
        return alive

    def reap(self, pid: int, *, wait: bool = False) -> bool:
        """Collect (and count) `pid` if it has exited (with `wait`, once it has); False while
        it runs."""
        try:
            reaped, _, rusage = os.wait4(pid, 0 if wait else os.WNOHANG)
        except ChildProcessError:
            return True  # not (or no longer) ours to collect
        if reaped:
            self.add(rusage)
        return bool(reaped)


def wait_exit(pid: int, timeout: float) -> None:
    """Until the process `pid` has exited (its pidfd turns readable), at most `timeout`."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:  # gone already, or no pidfd on this kernel (then reaped if it has exited)
        return
    try:
        select.select([pidfd], [], [], max(timeout, 0.0))
    finally:
        os.close(pidfd)


def _stat(pid: int) -> tuple[bool, float, int] | None:
    """(zombie, CPU seconds with its waited-for children, resident bytes) of a process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        fields = data[data.rindex(b")") + 2 :].split()
        ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        return fields[0] == b"Z", ticks / CLOCK_TICKS, int(fields[21]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


def _rss_exact(pid: int) -> int | None:
    """Resident bytes counted page by page (smaps_rollup): /proc/<pid>/stat's figure lags by
    a few hundred KiB, which is all a process has in its first milliseconds."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Rss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):  # another user's process: no access
        pass
    return None


class TreeSampler:
    """Reads the run's tree: the child and its descendants plus the orphans `account` knows,
    or the processes of the run's cgroup when it has one."""

    def __init__(self, account: Account, *, cgroup=None):
        self.account = account
        self.cgroup = cgroup
        self.last: Reading | None = None

    def _pids(self, orphans: list[int]) -> list[int]:
        if self.cgroup is not None:
            return self.cgroup.pids()
        seen: list[int] = []
        todo = [self.account.root, *orphans]
        while todo:
            pid = todo.pop()
            seen.append(pid)
            todo.extend(own_children(pid))
        return seen

    def spawned(self) -> Reading:
        """The run at its spawn, not read: it has used no CPU yet. Reading /proc right after
        the spawn cost ~0.6 ms on a 2-core machine, a third of a tiny run's whole cost; a run
        over before the first look has no memory figure (its CPU time is the kernel's)."""
        return Reading(time.monotonic(), self.account.cpu_seconds, 0, 1)

    def read(self, *, exact: bool = False) -> Reading | None:
        """The tree now (orphans that exited are reaped first); None when nothing of it is
        alive. `exact` counts memory page by page (dearer: for a run's first looks)."""
        alive = self.account.reap_orphans()
        cpu = self.account.cpu_seconds
        rss = processes = 0
        for pid in self._pids(alive):
            stat = _stat(pid)
            if stat is None:
                continue
            zombie, seconds, resident = stat
            cpu += seconds
            if not zombie:
                rss += (_rss_exact(pid) if exact else None) or resident
                processes += 1
        if self.cgroup is not None:
            cpu = self.cgroup.cpu_seconds()
        if not processes:
            return None
        if self.last is not None:  # a process reaped between two reads moves its time once
            cpu = max(cpu, self.last.cpu_seconds)
        self.last = Reading(time.monotonic(), cpu, rss, processes)
        return self.last


def cpu_percent(earlier: Reading, later: Reading) -> float:
    """Average CPU % between two readings (100 = one core busy)."""
    used = max(0.0, later.cpu_seconds - earlier.cpu_seconds)
    return used * 100 / max(later.at - earlier.at, 1e-3)


def memory_percent(rss: int) -> float:
    return rss * 100.0 / TOTAL_MEMORY
