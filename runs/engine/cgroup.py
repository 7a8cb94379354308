"""A cgroup v2 per run, where the service has a delegated subtree (systemd `Delegate=yes`):
the kernel then counts everything the run does (cpu.stat, memory.peak, every process however
it escaped) and enforces memory.max and pids.max (docs/architecture.md, record 5). No Django.

Where this process's cgroup is delegated (systemd's `delegate` attribute), writable and offers
the memory and pids controllers, the service's processes move into a leaf (`taskflow-main`),
so the service's cgroup may hand the controllers down, and runs get `taskflow-runs/run-<id>`.
Elsewhere (cgroup v1, no delegation) runs_parent() is None and the executor measures from
/proc alone. cpu.max is not written: a CPU limit here is "over N % for S seconds, then stop",
which throttling cannot express.

The child is born in its cgroup: the worker joins the run's cgroup for the fork and leaves
right after (what it charges there in between is microseconds of CPU). pids.max counts
threads, as the kernel does.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import signal
import time
from collections.abc import Iterator

logger = logging.getLogger("taskflow.executor")

CONTROLLERS = ("memory", "pids")
LEAF = "taskflow-main"
RUNS = "taskflow-runs"
REMOVE_SECONDS = 2.0


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def own_cgroup() -> str | None:
    """The directory of this process's cgroup v2, or None (cgroup v1 only, no mount)."""
    try:
        relative = next(
            line[3:].strip()
            for line in _read("/proc/self/cgroup").splitlines()
            if line.startswith("0::")
        )
        mounts = [
            line.split(" - ")[0].split()[4]
            for line in _read("/proc/self/mountinfo").splitlines()
            if " - cgroup2 " in line
        ]
    except (OSError, StopIteration, IndexError):
        return None
    if not mounts:
        return None
    return os.path.normpath(mounts[0] + relative)


def why_not() -> str | None:
    """Why runs get no cgroup here (None when they do): what the tests' skip reason says."""
    own = own_cgroup()
    if own is None:
        return "no cgroup v2 hierarchy (this process is in cgroup v1 only)"
    base = os.path.dirname(own) if os.path.basename(own) == LEAF else own
    try:
        available = _read(os.path.join(base, "cgroup.controllers")).split()
    except OSError as exc:
        return f"cannot read {base}/cgroup.controllers: {exc.strerror}"
    missing = [name for name in CONTROLLERS if name not in available]
    if missing:
        return f"{base} offers no {' or '.join(missing)} controller (found: {' '.join(available)})"
    if not _delegated(base):
        return f"{base} is not delegated to this service (systemd Delegate=yes marks it)"
    if not os.access(os.path.join(base, "cgroup.subtree_control"), os.W_OK):
        return f"{base} is delegated but not writable by this user"
    return None


def _delegated(path: str) -> bool:
    """systemd marks a unit's cgroup it delegated (Delegate=yes) with this extended attribute;
    any other cgroup is systemd's to manage, even where root could write to it."""
    for name in ("trusted.delegate", "user.delegate"):
        with contextlib.suppress(OSError):
            if os.getxattr(path, name) == b"1":
                return True
    return False


@functools.cache
def runs_parent() -> str | None:
    """The cgroup under which runs get their own, prepared once per process; None when the
    hierarchy is not ours to use."""
    reason = why_not()
    if reason is not None:
        logger.debug("runs get no cgroup: %s", reason)
        return None
    own = own_cgroup()
    base = os.path.dirname(own) if os.path.basename(own) == LEAF else own
    try:
        _delegate(base)
        runs = os.path.join(base, RUNS)
        os.makedirs(runs, exist_ok=True)
        _enable(runs)
    except OSError as exc:
        logger.warning("runs get no cgroup: preparing %s failed: %s", base, exc)
        return None
    return runs


def _enable(path: str) -> None:
    control = os.path.join(path, "cgroup.subtree_control")
    if set(CONTROLLERS) - set(_read(control).split()):
        _write(control, " ".join(f"+{name}" for name in CONTROLLERS))


def _delegate(base: str) -> None:
    """Let `base` hand its controllers down: a cgroup that does may hold no process itself
    (the root excepted), so the service's processes move into its LEAF first."""
    leaf = os.path.join(base, LEAF)
    for _ in range(20):  # processes started meanwhile land in base: move them too
        try:
            _enable(base)
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
        os.makedirs(leaf, exist_ok=True)
        for pid in _read(os.path.join(base, "cgroup.procs")).split():
            with contextlib.suppress(ProcessLookupError):
                _write(os.path.join(leaf, "cgroup.procs"), pid)
    _enable(base)


class RunCgroup:
    """One run's cgroup, from before its child starts until everything in it is gone."""

    def __init__(self, path: str):
        self.path = path

    @classmethod
    def create(cls, run_id: str) -> RunCgroup | None:
        parent = runs_parent()
        if parent is None:
            return None
        path = os.path.join(parent, f"run-{run_id}")
        try:
            os.mkdir(path)
        except FileExistsError:  # an attempt of this run whose executor died: start empty
            cgroup = cls(path)
            cgroup.kill()
            if not cgroup.remove():
                return None
            os.mkdir(path)
        except OSError as exc:
            logger.warning("run %s gets no cgroup: %s", run_id, exc)
            return None
        return cls(path)

    def limit(self, *, memory_mb: int | None, processes: int | None) -> None:
        """memory.max (no swap beyond it) and pids.max; after the spawn, so the worker's own
        threads never count against pids.max."""
        if memory_mb is not None:
            self._set("memory.max", str(memory_mb * 1024 * 1024))
            self._set("memory.swap.max", "0")
        if processes is not None:
            self._set("pids.max", str(processes))

    def _set(self, name: str, value: str) -> None:
        try:
            _write(os.path.join(self.path, name), value)
        except FileNotFoundError:  # memory.swap.max: only with swap accounting
            pass
        except OSError as exc:  # the monitor still enforces the limit
            logger.warning("cgroup %s: %s not set: %s", self.path, name, exc)

    @contextlib.contextmanager
    def entered(self) -> Iterator[bool]:
        """This process inside the run's cgroup for the fork of the run's child; yields
        whether it got in (if not, the child starts where the worker is)."""
        home = own_cgroup()
        try:
            _write(os.path.join(self.path, "cgroup.procs"), str(os.getpid()))
        except OSError as exc:
            logger.warning("cgroup %s not joined: %s", self.path, exc)
            yield False
            return
        try:
            yield True
        finally:
            _write(os.path.join(home, "cgroup.procs"), str(os.getpid()))

    def pids(self) -> list[int]:
        try:
            return [int(pid) for pid in _read(os.path.join(self.path, "cgroup.procs")).split()]
        except OSError:
            return []

    def cpu_seconds(self) -> float:
        """Everything the run's processes used, as the kernel counts it (cpu.stat)."""
        for line in self._lines("cpu.stat"):
            name, _, value = line.partition(" ")
            if name == "usage_usec":
                return int(value) / 1e6
        return 0.0

    def memory_peak(self) -> int | None:
        try:
            return int(_read(os.path.join(self.path, "memory.peak")))
        except (OSError, ValueError):  # memory.peak: Linux 5.19+
            return None

    def event(self, name: str, key: str) -> int:
        """A counter of memory.events or pids.events."""
        for line in self._lines(name):
            field, _, value = line.partition(" ")
            if field == key:
                return int(value)
        return 0

    def _lines(self, name: str) -> list[str]:
        try:
            return _read(os.path.join(self.path, name)).splitlines()
        except OSError:
            return []

    def kill(self) -> None:
        """SIGKILL every process in the cgroup (cgroup.kill, Linux 5.14+; else one by one),
        never this one (should it not have left)."""
        pids = self.pids()
        if os.getpid() not in pids:
            with contextlib.suppress(OSError):
                _write(os.path.join(self.path, "cgroup.kill"), "1")
                return
        for pid in pids:
            if pid != os.getpid():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        """Remove the cgroup once its processes are gone (killing what is left)."""
        deadline = time.monotonic() + REMOVE_SECONDS
        while True:
            try:
                os.rmdir(self.path)
                return True
            except FileNotFoundError:
                return True
            except OSError:
                if time.monotonic() > deadline:
                    logger.warning("cgroup %s not removed: processes remain", self.path)
                    return False
            self.kill()
            time.sleep(0.02)
