"""Process-tree handling for runs: the environment and marker variable, reaping, group/escapee
kills, subreaper, samples (docs/architecture.md, record 5).

No Django here. A run's processes are its process group (the child is a session leader) plus
any descendant that escaped the group (setsid, double fork): those still carry the marker
TASKFLOW_RUN_ID=<id> in their environment, and with the worker as child subreaper they are
re-parented to the worker instead of init.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess

import psutil

MARKER = "TASKFLOW_RUN_ID"
PR_SET_CHILD_SUBREAPER = 36
TOTAL_MEMORY = psutil.virtual_memory().total
# the server's own variables that never reach a job, whatever the allowlist says
NEVER_PASSED = {
    "JWT_SECRET",
    "TASKFLOW_JWT_SECRET",
    "SECRET_KEY",
    "TASKFLOW_SECRET_KEY",
    "DJANGO_SECRET_KEY",
    "DATABASE_URL",
    "TASKFLOW_DATABASE_URL",
    "SMTP_PASSWORD",
    "TASKFLOW_SMTP_PASSWORD",
    "REDIS_URL",
    "TASKFLOW_REDIS_URL",
    "TASKFLOW_METRICS_TOKEN",
}


def environment(
    allowlist, *, env: dict[str, str], secret_env: dict[str, str], run_id: str, job_id: str
) -> dict[str, str]:
    """A run's environment: the allowlisted server variables (never NEVER_PASSED), the job's
    variables and secrets, the run's marker and TASKFLOW_JOB_ID."""
    result = {
        name: os.environ[name]
        for name in allowlist
        if name in os.environ and name not in NEVER_PASSED
    }
    result.update(env)
    result.update(secret_env)
    result.update({MARKER: run_id, "TASKFLOW_JOB_ID": job_id, "PYTHONUNBUFFERED": "1"})
    return result


def try_reap(proc: subprocess.Popen):
    """(exit code, rusage) of our child if it has exited, else (None, None). Never blocks."""
    try:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
    except ChildProcessError:
        return (proc.returncode if proc.returncode is not None else -9), None
    if pid == 0:
        return None, None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, rusage


def reap_wait(proc: subprocess.Popen):
    """(exit code, rusage) of our child, waiting for it to exit."""
    try:
        _, status, rusage = os.wait4(proc.pid, 0)
    except ChildProcessError:
        return (proc.returncode if proc.returncode is not None else -9), None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, rusage


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def become_subreaper() -> bool:
    """Orphaned descendants of our runs get re-parented to this process (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def own_children() -> list[int]:
    """PIDs of this process's direct children, cheaply (/proc/self/task/*/children)."""
    pids: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return [proc.pid for proc in psutil.Process().children()]
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children") as handle:
                pids.extend(int(pid) for pid in handle.read().split())
        except OSError:
            continue
    return pids


def escapees(pgid: int | None, run_id: str) -> list[int]:
    """Orphans of a run re-parented to us (a subreaper): our children other than the run's
    own process that carry its marker."""
    if pgid is None:
        return []
    return [pid for pid in own_children() if pid != pgid and has_marker(pid, run_id)]


def has_marker(pid: int, run_id: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return f"{MARKER}={run_id}".encode() in handle.read().split(b"\0")
    except OSError:
        return False


def reap(pid: int) -> None:
    """Collect an exited child of ours (no zombie left behind). Never blocks."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def reap_zombies() -> int:
    """Collect every exited child (use only where all children are ours: a drain worker)."""
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped += 1


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def marker_processes(run_id: str, *, exclude: set[int] | None = None) -> list[psutil.Process]:
    """Live, non-zombie processes on this host whose environment carries the run's marker."""
    exclude = exclude or set()
    me = os.getpid()
    found = []
    for proc in psutil.process_iter():
        if proc.pid in exclude or proc.pid == me:
            continue
        try:
            if proc.environ().get(MARKER) == run_id and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def describe(found: list[str]) -> str:
    """ "pid name, ..." for a system line (at most ten)."""
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    return ", ".join(found[:10]) + more


def _label(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {proc.name()}"
    except psutil.Error:
        return str(proc.pid)


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error, OSError):
            continue
    return members


def kill_run_processes(
    run_id: str, pgid: int | None, *, grace: float = 0.5, term_first: bool = True
) -> list[str]:
    """TERM (then KILL after `grace`) the run's group and every marker process; returns
    "pid name" of what was found alive. Reaps our own children among them."""
    targets: dict[int, psutil.Process] = {}
    if pgid and group_alive(pgid):
        for proc in group_members(pgid):
            targets[proc.pid] = proc
    for proc in marker_processes(run_id):
        targets[proc.pid] = proc
    if not targets and not (pgid and group_alive(pgid)):
        return []
    procs = list(targets.values())
    labels = [_label(proc) for proc in procs]
    first = signal.SIGTERM if term_first else signal.SIGKILL
    if pgid:
        signal_group(pgid, first)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(first)
    if term_first:
        _, alive = psutil.wait_procs(procs, timeout=grace)
        if pgid:
            signal_group(pgid, signal.SIGKILL)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=2)
    for pid in own_children():
        if pid in targets:
            reap(pid)
    return labels


class TreeSampler:
    """CPU%/RSS of a process tree. Keeps psutil.Process objects between samples because
    cpu_percent() needs two readings of the same object."""

    def __init__(self, root_pid: int, extra_pids=None):
        self.root_pid = root_pid
        self.extra_pids = extra_pids  # callable returning more pids (escapees)
        self.cache: dict[int, psutil.Process] = {}
        self.total_memory = TOTAL_MEMORY

    def _tree(self) -> list[psutil.Process]:
        pids = set()
        try:
            root = self.cache.get(self.root_pid) or psutil.Process(self.root_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = []
        if self.extra_pids is not None:
            for pid in self.extra_pids():
                if pid not in {proc.pid for proc in procs}:
                    try:
                        extra = psutil.Process(pid)
                        procs.extend([extra, *extra.children(recursive=True)])
                    except psutil.Error:
                        continue
        tree = []
        for proc in procs:
            if proc.pid in pids:
                continue
            pids.add(proc.pid)
            tree.append(self.cache.setdefault(proc.pid, proc))
        for pid in list(self.cache):
            if pid not in pids:
                del self.cache[pid]
        return tree

    def sample(self) -> tuple[float, int, float] | None:
        """(cpu percent, rss bytes, memory percent) of the whole tree, or None if it is gone."""
        cpu = 0.0
        rss = 0
        seen = False
        for proc in self._tree():
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(interval=None)
                    rss += proc.memory_info().rss
                seen = True
            except psutil.Error:
                continue
        if not seen:
            return None
        return cpu, rss, rss * 100.0 / self.total_memory


class ExecutorLock:
    """An flock held by the process executing a run, from the claim to the final commit.

    The reconciler on the same host asks `held()` before declaring a run lost: a stale
    heartbeat only means the executor could not write (a busy machine, a long SQLite write
    lock), not that it is gone. The kernel drops the lock when the process dies."""

    def __init__(self, directory: str | os.PathLike, run_id: str):
        self.path = os.path.join(directory, f"run-{run_id}.lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        with contextlib.suppress(OSError):
            try:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:  # the first run in this data directory
                os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)  # a reconciler's probe holds it for microseconds

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # before closing: a waiter never sees a stale held file
        os.close(self.fd)
        self.fd = None

    def held(self) -> bool:
        """Does a live process hold this run's lock right now?"""
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            os.close(fd)
        return False
