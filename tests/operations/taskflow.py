"""A real `taskflow run` for the operations tests: start it, find its children, stop it by PID."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import urllib.request
from pathlib import Path

import psutil

from runs.engine.process import lock_file_name
from tests.support.processes import child_env, free_port, wait_for


class TaskFlow:
    """One supervised tree on its own port and data directory."""

    def __init__(
        self,
        processes,
        data_dir: Path,
        name: str = "taskflow",
        *,
        environ: dict[str, str] | None = None,
        hostname: str | None = None,
        **env: str,
    ):
        self.processes = processes
        self.data_dir = data_dir
        self.name = name
        self.port = free_port()
        self.env = {**environ, **env} if environ is not None else child_env(**env)
        self.hostname = hostname  # its own UTS namespace: a "host" of its own name
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self, *command: str) -> list[str]:
        flags = ["--port", str(self.port), "--data-dir", str(self.data_dir), "--no-color"]
        return [sys.executable, "-m", "taskflow_site.cli", *command, *flags]

    def start(self, timeout: float = 120) -> TaskFlow:
        argv = self.argv("run")
        if self.hostname:  # unshare execs sh, which sets the name and execs us: one pid
            script = f'hostname {self.hostname} && exec "$@"'
            argv = ["unshare", "--uts", "sh", "-c", script, "sh", *argv]
        self.proc = self.processes.start(self.name, argv, env=self.env)
        self.wait_log("is ready", timeout)
        return self

    def log(self) -> str:
        return self.processes.log_text(self.name)

    def wait_log(self, text: str, timeout: float = 120, count: int = 1) -> None:
        wait_for(
            lambda: self.log().count(text) >= count or self.proc.poll() is not None,
            timeout=timeout,
            interval=0.1,
            message=f"{text!r} in the log of {self.name}",
        )
        assert self.log().count(text) >= count, self.log()[-4000:]

    def tree(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    def child(self, marker: str) -> psutil.Process:
        """The direct child whose command line contains `marker` ("qcluster", "cli.web")."""
        for proc in psutil.Process(self.proc.pid).children():
            with contextlib.suppress(psutil.Error):
                if any(marker in part for part in proc.cmdline()):
                    return proc
        raise AssertionError(f"no {marker} child under {self.proc.pid}")

    def pids(self) -> set[int]:
        return {proc.pid for proc in self.tree()}

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def get(self, path: str, timeout: float = 10, headers: dict | None = None):
        request = urllib.request.Request(self.url + path, headers=headers or {})
        return urllib.request.urlopen(request, timeout=timeout)


def processes_with_env(name: str, value: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(name) == value and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def leftover_locks(data_dir: Path, live_pids=()) -> list[str]:
    """Executor lock files in the data dir except those of `live_pids` (each process that
    executes runs holds one, named after it, for its whole life: runs.engine.process)."""
    running = data_dir / "running"
    names = sorted(path.name for path in running.glob("*.lock")) if running.exists() else []
    own = {lock_file_name(f"{socket.gethostname()}:{pid}") for pid in live_pids}
    return [name for name in names if name not in own]
