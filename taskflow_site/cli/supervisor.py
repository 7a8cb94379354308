"""`taskflow run`: apply migrations, start daphne (HTTP + WebSockets) and the cluster
(`manage.py qcluster`), watch them, and stop the whole tree together (docs/architecture.md,
record 13)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time

from taskflow_site.cli.children import (
    base_url,
    child_environ,
    die_with_parent,
    django_command,
    http_get,
    terminate_trees,
)
from taskflow_site.cli.output import Out
from taskflow_site.cli.parser import version
from taskflow_site.config import Config

# shorter than `taskflow stop`'s 10 s, so a normal stop never needs that SIGKILL
CHILD_GRACE = 8.0
HEALTH_WAIT = 60.0


class Supervisor:
    """Start daphne and the cluster, watch them, stop all of them together.

    A child that dies takes the whole tree down with a non-zero exit: restarting is the job of
    whoever started us (systemd Restart=on-failure, Docker's restart policy), which also
    restarts the half that was still running so both come back in a known state.
    """

    def __init__(self, args: argparse.Namespace, config: Config, out: Out):
        self.args = args
        self.config = config
        self.out = out
        self.env = child_environ(args, config)
        self.children: dict[str, subprocess.Popen] = {}
        self.stop_signal: int | None = None

    def _on_signal(self, signum, frame) -> None:
        self.stop_signal = signum

    def _forward_stack_dump(self, signum, frame) -> None:
        for proc in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGUSR1)

    def spawn(self, name: str, argv: list[str]) -> None:
        self.children[name] = subprocess.Popen(
            argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own group: Ctrl-C reaches us, we stop them in order
            preexec_fn=die_with_parent,  # the supervisor has no threads: safe
        )

    def dead_child(self) -> tuple[str, int] | None:
        for name, proc in self.children.items():
            code = proc.poll()
            if code is not None:
                return name, code
        return None

    def migrate(self) -> int:
        self.out.say("Applying database migrations...")
        return subprocess.call(
            django_command("migrate", "--noinput", "-v", "0", "--skip-checks"),  # qcluster checks
            env=self.env,
            stdin=subprocess.DEVNULL,
        )

    def wait_until_healthy(self, url: str) -> dict | None:
        deadline = time.monotonic() + HEALTH_WAIT
        status, body = 0, {}
        while time.monotonic() < deadline:
            if self.stop_signal is not None or self.dead_child():
                return None
            status, body = http_get(f"{url}/health", timeout=2)
            if status == 200:
                return body
            time.sleep(0.2)
        problems = "; ".join(body.get("problems", [])) or "no answer"
        self.out.warn(f"not healthy after {HEALTH_WAIT:.0f}s ({problems}); still trying")
        return body

    def announce(self, url: str, body: dict) -> None:
        database = body.get("database") or {}
        if database.get("vendor") == "sqlite":
            line = (
                f"SQLite {self.config.db_path}: journal_mode={database.get('journal_mode')} "
                f"foreign_keys={'on' if database.get('foreign_keys') else 'OFF'} "
                f"busy_timeout={database.get('busy_timeout_ms')}ms"
            )
            (self.out.say if database.get("ok") else self.out.warn)(line)
        elif database:
            self.out.say(f"Database: {database.get('vendor')}")
        status, setup = http_get(f"{url}/setup/status", timeout=2)
        if status == 200 and (setup.get("data") or {}).get("needsSetup"):
            self.out.say(f"No user exists yet: open {url}/setup to create the first admin.")
        self.out.ok(f"TaskFlow {version()} is ready: {url}/")

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_signal)
        if self.config.debug:  # children dump their threads' stacks (faulthandler, settings)
            signal.signal(signal.SIGUSR1, self._forward_stack_dump)
        url = base_url(self.config)
        self.out.say(f"Starting TaskFlow {version()} on {url}")
        code = self.migrate()
        if code != 0:
            self.out.error(f"migrations failed (exit {code})")
            return 1
        if self.stop_signal is not None:
            return 0
        self.spawn(
            "web",
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                self.config.host,
                "-p",
                str(self.config.port),
                "-v",  # no access log: the reverse proxy keeps one
                "0",
                # no --proxy-headers: daphne trusts the left-most X-Forwarded-For entry, which
                # a client can forge; DRF's NUM_PROXIES (trusted_proxies) picks the right one
                "--no-server-name",
                "taskflow_site.asgi:application",
            ],
        )
        self.spawn("cluster", django_command("qcluster"))
        try:
            body = self.wait_until_healthy(url)
            if body is not None:
                self.announce(url, body)
            while self.stop_signal is None:
                dead = self.dead_child()
                if dead:
                    name, code = dead
                    self.out.error(f"the {name} process exited with code {code}; stopping")
                    return 1
                time.sleep(0.2)
            self.out.say(f"Stopping TaskFlow ({signal.Signals(self.stop_signal).name})...")
            return 0
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        pids = [proc.pid for proc in self.children.values() if proc.poll() is None]
        terminate_trees(pids, CHILD_GRACE)
        for proc in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1)
        self.out.say("TaskFlow stopped.")
