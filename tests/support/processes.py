"""Start real TaskFlow processes against the test database, and stop every one by PID.

Use with `@pytest.mark.django_db(transaction=True)` so the rows a test writes are committed
and visible to the child processes (the test database is a file, see settings.TESTING).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment a child needs to use this test session's database and data dir."""
    env = dict(os.environ)
    env.pop("TASKFLOW_TEST_DB_NAME", None)
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        env["TASKFLOW_DB_PATH"] = str(settings_dict["NAME"])
        env.pop("DATABASE_URL", None)
        env.pop("TASKFLOW_DATABASE_URL", None)
    else:
        user = settings_dict["USER"] or ""
        password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
        auth = f"{user}{password}@" if user else ""
        host = settings_dict["HOST"] or "127.0.0.1"
        port = settings_dict["PORT"] or "5432"
        env["DATABASE_URL"] = f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
        env.pop("TASKFLOW_DATABASE_URL", None)
    env["TASKFLOW_TESTING"] = "1"
    env["DJANGO_SETTINGS_MODULE"] = "taskflow_site.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class ProcessGroup:
    """Children started by one test; `stop_all` ends each by PID (TERM, then KILL)."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None):
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop_all)
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env or child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc._log = log  # type: ignore[attr-defined]
        self.procs.append((name, proc))
        return proc

    def manage(self, name: str, *args: str, env: dict[str, str] | None = None):
        return self.start(name, [sys.executable, "manage.py", *args], env)

    def log_text(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, proc: subprocess.Popen, timeout: float = 15) -> int | None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid)
                proc.wait(5)
        return proc.returncode

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            try:
                descendants = psutil.Process(proc.pid).children(recursive=True)
            except psutil.Error:
                descendants = []
            self.stop(proc)
            for child in descendants:  # anything the child failed to reap
                with contextlib.suppress(psutil.Error):
                    child.kill()
            proc._log.close()  # type: ignore[attr-defined]
        self.procs.clear()


def kill_tree(pid: int) -> None:
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def python_output(code: str, env: dict[str, str], timeout: float = 120) -> str:
    """What `python -c code` prints in a child of its own (settings read afresh from `env`);
    fails the test with the child's stderr when it does not succeed."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def wait_for(predicate, timeout: float = 20, interval: float = 0.05, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 90) -> None:
    """Until something listens on the port; fails at once if `proc`, the server starting to
    listen there, has exited (the timeout only bounds a start on a very loaded machine)."""

    def connectable():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server for port {port} exited with {proc.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(connectable, timeout, message=f"port {port}")


def processes_with_marker(name: str, value: str) -> list[psutil.Process]:
    """Live processes whose environment has name=value (a run's marker variable)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get(name) == value and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found
