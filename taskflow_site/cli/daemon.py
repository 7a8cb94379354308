"""`taskflow start | stop | restart | status`: `taskflow run` in the background with a PID file
and a log file under the data directory, and LSB exit codes.

Every `taskflow run` writes the PID file, in the foreground too, so these commands manage
whichever TaskFlow uses this data directory (docs/cli.md)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from taskflow_site.cli.children import (
    base_url,
    child_environ,
    http_get,
    port_is_free,
    process_tree,
)
from taskflow_site.cli.output import Out
from taskflow_site.cli.parser import COMMANDS
from taskflow_site.cli.supervisor import HEALTH_WAIT
from taskflow_site.config import Config
from taskflow_site.lib.private import private_file

# `stop` waits this long after SIGTERM before SIGKILL; longer than the supervisor's own grace
# for its children, so a normal stop never needs the SIGKILL
STOP_TIMEOUT = 10.0
EXIT_NOT_RUNNING = 3  # LSB: "program is not running"
EXIT_STALE_PID = 1  # LSB: "program is dead and the PID file exists"


def pid_file_for(config: Config) -> Path:
    return Path(config.data_dir) / "taskflow.pid"


def log_file_for(config: Config) -> Path:
    return Path(config.data_dir) / "logs" / "taskflow.log"


def is_taskflow_process(pid: int) -> bool:
    """Alive, not a zombie, and a `taskflow run` (not a recycled PID of something else)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = proc.cmdline()
    except psutil.Error:
        return False
    is_ours = any(
        part == "taskflow_site.cli" or Path(part).name == "taskflow" for part in cmdline[:3]
    )
    # `taskflow run`, or plain `taskflow` (run is the default command)
    return is_ours and ("run" in cmdline or not set(cmdline) & set(COMMANDS))


def listens_on(pid: int, port: int) -> bool:
    """Does `pid` itself hold the listening socket on `port`? (The supervisor owns it.)"""
    try:
        connections = psutil.Process(pid).net_connections(kind="inet")
    except psutil.Error:
        return False
    return any(
        conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
        for conn in connections
    )


def read_pid(path: Path) -> tuple[int | None, str]:
    """(pid, state): state is "running", "stale" (file left by a dead process) or "absent"."""
    try:
        pid = int(path.read_text().strip())
    except FileNotFoundError:
        return None, "absent"
    except (ValueError, OSError):
        return None, "stale"
    return pid, "running" if is_taskflow_process(pid) else "stale"


def write_pid(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_suffix(".pid.tmp")
    temp.write_text(f"{pid}\n")
    private_file(temp)  # the server's own, like the rest of the data directory
    temp.replace(path)


def remove_pid(path: Path, pid: int) -> None:
    """Remove the PID file only if it still names `pid` (a newer daemon may own it)."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        if int(path.read_text().strip()) == pid:
            path.unlink()


def daemon_argv(argv: Sequence[str], pid_file: Path) -> list[str]:
    """Our own flags, replayed for `taskflow run` in the background."""
    kept = [arg for arg in argv if arg not in COMMANDS]
    return [sys.executable, "-m", "taskflow_site.cli", "run", *kept, "--pid-file", str(pid_file)]


def cmd_start(args, config: Config, out: Out) -> int:
    pid_file = pid_file_for(config)
    pid, state = read_pid(pid_file)
    if state == "running":
        out.say(f"TaskFlow is already running (pid {pid}).")
        return 0
    if state == "stale":
        out.warn(f"removing stale PID file {pid_file} (pid {pid} is not running)")
        pid_file.unlink(missing_ok=True)
    if not port_is_free(config.host, config.port):
        out.error(
            f"port {config.port} on {config.host} is already in use by another program; "
            "TaskFlow not started (choose another with --port)"
        )
        return 1
    log_file = log_file_for(config)
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(log_file, "ab") as log:
        # a new session: the daemon has no terminal and outlives this shell
        proc = subprocess.Popen(
            daemon_argv(args.raw_argv, pid_file),
            env=child_environ(args, config),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    url = base_url(config)
    deadline = time.monotonic() + HEALTH_WAIT
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            remove_pid(pid_file, proc.pid)
            out.error(f"TaskFlow exited during start (code {code}); see {log_file}")
            return 1
        # healthy, and answered through the socket our daemon holds (not another server's)
        status, _ = http_get(f"{url}/health", timeout=2)
        if status == 200 and listens_on(proc.pid, config.port):
            out.ok(f"TaskFlow started (pid {proc.pid}): {url}/  logs: {log_file}")
            return 0
        time.sleep(0.2)
    out.warn(f"TaskFlow started (pid {proc.pid}) but is not healthy yet; see {log_file}")
    return 1


def cmd_stop(args, config: Config, out: Out) -> int:
    pid_file = pid_file_for(config)
    pid, state = read_pid(pid_file)
    if state == "absent":
        out.say("TaskFlow is not running.")
        return 0
    if state == "stale":
        out.warn(f"removed stale PID file {pid_file} (pid {pid} is not a running TaskFlow)")
        pid_file.unlink(missing_ok=True)
        return 0
    tree = process_tree(pid)
    with contextlib.suppress(ProcessLookupError):  # it may have just exited on its own
        os.kill(pid, signal.SIGTERM)
    out.say(f"Stopping TaskFlow (pid {pid})...")
    _, alive = psutil.wait_procs(tree[:1], timeout=STOP_TIMEOUT)
    if alive:
        out.warn(f"pid {pid} still running after {STOP_TIMEOUT:.0f}s: sending SIGKILL")
    # whatever is left of the tree (a hung child included) gets SIGKILL
    leftovers = [proc for proc in tree if proc.is_running()]
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(leftovers, timeout=5)
    remove_pid(pid_file, pid)
    out.say("TaskFlow stopped.")
    return 0


def web_children(pid: int) -> set[int]:
    found = set()
    for proc in process_tree(pid)[1:]:
        with contextlib.suppress(psutil.Error):
            if "taskflow_site.cli.web" in proc.cmdline():
                found.add(proc.pid)
    return found


def cmd_restart(args, config: Config, out: Out) -> int:
    """SIGHUP to a running TaskFlow: a new web process and cluster take over with no downtime
    (the supervisor keeps the socket); `start` when none runs."""
    pid_file = pid_file_for(config)
    pid, state = read_pid(pid_file)
    if state != "running":
        return cmd_start(args, config, out)
    old_web = web_children(pid)
    os.kill(pid, signal.SIGHUP)
    out.say(f"Reloading TaskFlow (pid {pid})...")
    url = base_url(config)
    deadline = time.monotonic() + HEALTH_WAIT + 10
    while time.monotonic() < deadline and is_taskflow_process(pid):
        new_web = web_children(pid) - old_web
        if new_web and http_get(f"{url}/health", timeout=2)[0] == 200:
            out.ok(f"TaskFlow restarted (pid {pid}, web pid {min(new_web)}): {url}/")
            return 0
        time.sleep(0.2)
    out.error(f"TaskFlow did not finish reloading; see {log_file_for(config)}")
    return 1


def cmd_status(args, config: Config, out: Out) -> int:
    pid_file = pid_file_for(config)
    pid, state = read_pid(pid_file)
    if state == "absent":
        out.say("TaskFlow is not running.")
        return EXIT_NOT_RUNNING
    if state == "stale":
        pid_file.unlink(missing_ok=True)
        out.warn(f"stale PID file {pid_file} removed: pid {pid} is not a running TaskFlow")
        return EXIT_STALE_PID
    url = base_url(config)
    status, body = http_get(f"{url}/health", timeout=3)
    health = "healthy" if status == 200 else (body.get("status") or "not answering")
    out.say(f"TaskFlow is running (pid {pid}) on {url}/ — {health}")
    return 0
