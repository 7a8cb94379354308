"""Process-tree handling for runs: the environment and marker variable, reaping, group/escapee
kills, subreaper (docs/architecture.md, record 5).

No Django here. A run's processes are its process group (the child is a session leader) plus
any descendant that escaped the group (setsid, double fork): those still carry the marker
TASKFLOW_RUN_ID=<id> in their environment, and with the worker as child subreaper they are
re-parented to the worker instead of init.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess

import psutil

from taskflow_site.lib.jobuser import Identity

MARKER = "TASKFLOW_RUN_ID"
PR_SET_PDEATHSIG = 1
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
    allowlist,
    *,
    env: dict[str, str],
    secret_env: dict[str, str],
    run_id: str,
    job_id: str,
    identity: Identity | None = None,
) -> dict[str, str]:
    """A run's environment: the allowlisted server variables (never NEVER_PASSED), HOME, USER
    and LOGNAME of the job user when it runs as one, the job's variables and secrets, the
    run's marker and TASKFLOW_JOB_ID."""
    result = {
        name: os.environ[name]
        for name in allowlist
        if name in os.environ and name not in NEVER_PASSED
    }
    if identity is not None:
        result.update(HOME=identity.home, USER=identity.name, LOGNAME=identity.name)
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


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """This process gets `sig` when the one that forked it dies, even by SIGKILL (Linux)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def has_children() -> bool:
    """Has this process a child at all, running or exited and not yet collected? One waitid()
    call, nothing reaped: a subreaper without one has nothing of any run left to look for
    (every orphan of a run is re-parented to it), so no /proc read is needed after a run that
    left nothing behind."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def own_children(pid: int | str = "self") -> list[int]:
    """PIDs of a process's direct children (default: ours), from /proc/<pid>/task/*/children
    (ours: only when has_children() says there are some)."""
    if pid == "self" and not has_children():
        return []
    pids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    except OSError:
        with contextlib.suppress(psutil.Error):
            return [proc.pid for proc in psutil.Process(None if pid == "self" else pid).children()]
        return []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                pids.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return pids


def own_descendants() -> set[int]:
    """PIDs of every process below this one, without scanning all of /proc (a cluster's drains
    are its Sentinel's children)."""
    found: set[int] = set()
    todo = own_children()
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(own_children(pid))
    return found


def escapees(pgid: int | None, run_id: str, uid: int | None = None) -> list[int]:
    """Orphans of a run re-parented to us (a subreaper): our children other than the run's
    own process that carry its marker. A run under a job user `uid` whose environment we may
    not read (no CAP_SYS_PTRACE): our children of that uid are its own, as a drain executes
    one run at a time."""
    if pgid is None:
        return []
    return [pid for pid in own_children() if pid != pgid and has_marker(pid, run_id, uid)]


def has_marker(pid: int, run_id: str, uid: int | None = None) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return f"{MARKER}={run_id}".encode() in handle.read().split(b"\0")
    except PermissionError:
        return uid is not None and _owner(pid) == uid
    except OSError:
        return False


def _owner(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


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


LOCK_SUFFIX = ".lock"
RUN_ID_BYTES = 36  # a run id as text (a UUID)
# a drain holds two runs at a time for a moment: the one it executes and the one whose final
# commit waits until that one started (runs.engine.drain)
LOCK_RUNS = 2
LOCK_BYTES = LOCK_RUNS * (RUN_ID_BYTES + 1)


def lock_file_name(worker: str) -> str:
    """The lock file of the process executing as `worker` ("host:pid")."""
    return "worker-" + "".join(c if c.isalnum() or c in "-." else "_" for c in worker) + LOCK_SUFFIX


class WorkerLock:
    """An flock a process that executes runs holds for its whole life, on one file named after
    its worker name ("host:pid", what Run.worker records); the ids of the runs it holds (the one
    it executes and the one it is finishing) are written in the file (blank between runs): one
    pwrite per run, no file per run.

    The reconciler on the same host asks `worker_holds()` before declaring a run lost: a stale
    heartbeat only means the executor could not write (a busy machine, a long SQLite write
    lock), not that it is gone. The kernel drops the lock when the process dies."""

    def __init__(self, directory: str | os.PathLike, worker: str):
        self.path = os.path.join(directory, lock_file_name(worker))
        self.pid = os.getpid()
        self.fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock (once; True while held). A sweep that removed the file meanwhile
        (discard) leaves us a lock on a name-less file: then take it again on a new one."""
        while self.fd is None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:  # the first run in this data directory
                os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
                continue
            except OSError:
                return False
            fcntl.flock(fd, fcntl.LOCK_EX)  # a reconciler's probe holds it for microseconds
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
            else:
                os.close(fd)
        return True

    def mark(self, *run_ids) -> None:
        """The runs this process holds from now on (None or nothing: none)."""
        if self.fd is not None:
            text = " ".join(str(run_id) for run_id in run_ids if run_id is not None)
            with contextlib.suppress(OSError):
                os.pwrite(self.fd, text.ljust(LOCK_BYTES).encode(), 0)

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # before closing: a waiter never sees a stale held file
        os.close(self.fd)
        self.fd = None


def worker_holds(path: str, run_id) -> bool:
    """Does a live process hold the lock at `path` while it holds `run_id` right now?"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:  # held: by the process holding which runs?
        try:
            return str(run_id) in os.pread(fd, LOCK_BYTES, 0).decode().split()
        except (OSError, UnicodeDecodeError):
            return False
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def lock_discard(path: str) -> bool:
    """Remove a lock file no live process holds (its process died); never a held one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(path)  # while we hold it: a process taking it meanwhile sees the inode go
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
