"""`taskflow run`: own the listening socket, apply migrations, start the web process (daphne on
that socket, taskflow_site/cli/web.py) and the cluster (`manage.py qcluster`) — both forked by
one zygote that has loaded Django, so its image is shared (taskflow_site/cli/zygote.py) — watch
them, replace them without downtime on SIGHUP, and stop the whole tree together
(docs/architecture.md, record 13)."""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import subprocess
import sys
import time

import psutil

from taskflow_site import VERSION
from taskflow_site.cli.children import (
    ForkedChild,
    PortInUse,
    base_url,
    become_subreaper,
    bind_listener,
    bind_unix_listener,
    child_environ,
    die_with_parent,
    django_command,
    http_get,
    process_tree,
    reap_orphans,
    served_host,
    stop_everything,
)
from taskflow_site.cli.output import Out
from taskflow_site.config import Config
from taskflow_site.lib.jobuser import isolation, job_user_error

# shorter than `taskflow stop`'s 10 s, so a normal stop never needs that SIGKILL
CHILD_GRACE = 8.0
HEALTH_WAIT = 60.0
# On SIGHUP the old cluster finishes the runs it holds for at most this long (then they are
# interrupted, as on a stop); the old web process finishes its requests (web.DRAIN_SECONDS).
# HANDOVER_SIGNAL tells it "take nothing new, finish what you hold, exit". Both are the
# cluster's own (runs.engine.drain), repeated here because the CLI loads no Django.
HANDOVER_SECONDS = 300.0
HANDOVER_SIGNAL = signal.SIGUSR2
# Idle, the watch loop sleeps until a signal arrives (SIGCHLD: a child or orphan ended;
# SIGTERM, SIGINT, SIGHUP): this long at most. While an old child retires, RETIRING_WAIT.
IDLE_WAIT = 30.0
RETIRING_WAIT = 0.2


def stop_tree(proc: subprocess.Popen | ForkedChild) -> None:
    """SIGTERM one child, give its tree CHILD_GRACE, SIGKILL what is left of it."""
    tree = process_tree(proc.pid)
    proc.terminate()
    _, alive = psutil.wait_procs(tree, timeout=CHILD_GRACE)
    for leftover in alive:
        with contextlib.suppress(psutil.Error):
            leftover.kill()
    proc.wait(5)


class Retiring:
    """An old child finishing its work after a reload; killed with its tree past `deadline`."""

    def __init__(self, name: str, proc: ForkedChild, deadline: float):
        self.name = name
        self.proc = proc
        self.deadline = deadline
        self.tree: dict[int, psutil.Process] = {}
        self.remember_tree()

    def remember_tree(self) -> None:
        # merged, never replaced: a dying root has already lost its children to us
        for proc in process_tree(self.proc.pid):
            self.tree.setdefault(proc.pid, proc)

    def done(self) -> bool:
        if self.proc.poll() is None:
            if time.monotonic() < self.deadline:
                self.remember_tree()
                return False
            self.proc.kill()
            self.proc.wait(5)
        # whatever it left behind (re-parented to us) goes with it
        for proc in self.tree.values():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        return True


class Supervisor:
    """Start the web process and the cluster, watch them, stop all of them together.

    A child that dies takes the whole tree down with a non-zero exit: restarting is the job of
    whoever started us (systemd Restart=on-failure, Docker's restart policy), which also
    restarts the half that was still running so both come back in a known state. We are the
    children's subreaper, so "the whole tree" includes what a dead child left behind.
    """

    def __init__(self, args: argparse.Namespace, config: Config, out: Out):
        self.args = args
        self.config = config
        self.out = out
        self.env = child_environ(args, config)
        self.children: dict[str, ForkedChild] = {}
        self.retiring: list[Retiring] = []
        self.listener = None
        self.unix_listener = None  # config.socket: a proxy on this machine connects here
        self.stop_signal: int | None = None
        self.reload_wanted = False
        self.wake_fd: int | None = None  # signals write here (signal.set_wakeup_fd)

    def _on_signal(self, signum, frame) -> None:
        self.stop_signal = signum

    def _on_reload(self, signum, frame) -> None:
        self.reload_wanted = True

    def _forward_stack_dump(self, signum, frame) -> None:
        for proc in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGUSR1)

    def fork_children(self, ready: bool) -> dict[str, tuple[ForkedChild, int | None]]:
        """A web process (on our sockets) and a cluster, forked by one zygote that has loaded
        Django once (taskflow_site/cli/zygote.py); with `ready`, each writes "ready" to a pipe
        once it serves: {name: (child, the pipe's read end or None)}. Empty if the zygote
        failed."""
        listening = [sock.fileno() for sock in (self.listener, self.unix_listener) if sock]
        argv = [sys.executable, "-m", "taskflow_site.cli.zygote", "qcluster", "web"]
        for fd in listening:
            argv += ["--fd", str(fd)]
        pids_read, pids_write = os.pipe()
        pipes: dict[str, tuple[int, int] | None] = {"web": None, "cluster": None}
        fds = [*listening, pids_write]
        for name in pipes if ready else ("web",):
            pipes[name] = os.pipe()
            argv += [f"--{name}-ready-fd", str(pipes[name][1])]
            fds.append(pipes[name][1])
        zygote = subprocess.Popen(
            [*argv, "--pids-fd", str(pids_write)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own group: Ctrl-C reaches us, we stop them in order
            preexec_fn=die_with_parent,  # the supervisor has no threads: safe
            pass_fds=fds,
        )
        for fd in [pids_write, *(pipe[1] for pipe in pipes.values() if pipe)]:
            os.close(fd)
        try:
            zygote.wait(HEALTH_WAIT)
        except subprocess.TimeoutExpired:
            stop_tree(zygote)
        os.set_blocking(pids_read, False)
        try:
            lines = os.read(pids_read, 512).decode().split("\n")
        except BlockingIOError:
            lines = []
        finally:
            os.close(pids_read)
        born = dict(line.split() for line in lines if line)  # kind -> pid
        forked = {
            name: (ForkedChild(int(born[kind])), pipes[name][0] if pipes[name] else None)
            for name, kind in (("web", "web"), ("cluster", "qcluster"))
            if kind in born
        }
        if len(forked) != len(pipes):  # the zygote failed half-way: what it made goes
            for child, _ in forked.values():
                stop_tree(child)
            for pipe in pipes.values():
                if pipe:
                    os.close(pipe[0])
            return {}
        return forked

    def wait_ready(self, proc: ForkedChild, ready_read: int) -> bool:
        deadline = time.monotonic() + HEALTH_WAIT
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                if self.stop_signal is not None:
                    return False
                if select.select([ready_read], [], [], 0.2)[0]:
                    return os.read(ready_read, 16).startswith(b"ready")
            return False
        finally:
            os.close(ready_read)

    def keep(self) -> set[int]:
        """Our own Popen children (collected by their Popen, not by reap_orphans)."""
        return {proc.pid for proc in self.children.values()} | {
            old.proc.pid for old in self.retiring
        }

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
        status, setup = http_get(f"{url}/setup/status", timeout=2, host=served_host(self.config))
        if status == 200 and (setup.get("data") or {}).get("needsSetup"):
            self.out.say(f"No user exists yet: open {url}/setup to create the first admin.")
        self.out.ok(f"TaskFlow {VERSION} is ready: {url}/")

    def reload(self) -> None:
        """A new web process and cluster take over; the old ones finish and exit. The socket
        never closes, so no connection is refused; no running job is interrupted. Each old
        child is told to go only once its successor is ready."""
        self.reload_wanted = False
        self.out.say("Reloading (SIGHUP): a new web process and cluster take over...")
        deadline = time.monotonic() + HANDOVER_SECONDS + CHILD_GRACE
        forked = self.fork_children(ready=True)
        started = [self.wait_ready(child, ready) for child, ready in forked.values()]
        if not forked or not all(started):
            for child, _ in forked.values():
                stop_tree(child)
            self.out.error("the new web process and cluster did not start; the old ones go on")
            return
        for name, farewell in (("web", signal.SIGTERM), ("cluster", HANDOVER_SIGNAL)):
            old = self.children[name]
            self.retiring.append(Retiring(name, old, deadline))
            self.children[name] = forked[name][0]
            os.kill(old.pid, farewell)  # web: graceful drain; cluster: hand over
        web, cluster = self.children["web"].pid, self.children["cluster"].pid
        self.out.ok(f"Reloaded: web pid {web}, cluster pid {cluster}")

    def watch_retiring(self) -> None:
        for old in list(self.retiring):
            if old.done():
                self.retiring.remove(old)
                self.out.say(f"the previous {old.name} process ({old.proc.pid}) has finished")

    def listen_for_signals(self) -> None:
        """Every signal (SIGCHLD included, which is ignored by default) wakes self.sleep()."""
        self.wake_fd, write_fd = os.pipe()
        os.set_blocking(self.wake_fd, False)
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    def sleep(self, timeout: float) -> None:
        if self.wake_fd is None:
            time.sleep(min(timeout, RETIRING_WAIT))
            return
        if select.select([self.wake_fd], [], [], timeout)[0]:
            with contextlib.suppress(BlockingIOError):
                os.read(self.wake_fd, 512)

    def run(self) -> int:
        self.listen_for_signals()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_reload)
        if self.config.debug:  # children dump their threads' stacks (faulthandler, settings)
            signal.signal(signal.SIGUSR1, self._forward_stack_dump)
        url = base_url(self.config)
        self.out.say(f"Starting TaskFlow {VERSION} on {url}")
        if job_user_error(self.config.job_user):
            self.out.error(f"job_user: {job_user_error(self.config.job_user)}")
            return 1
        jobs = isolation(self.config.job_user)
        (self.out.say if jobs.separated else self.out.warn)(f"Jobs: {jobs.describe()}")
        try:  # before anything else: a taken port is an error, never "someone else answered"
            self.listener = bind_listener(self.config.host, self.config.port)
            if self.config.socket:
                self.unix_listener = bind_unix_listener(self.config.socket)
        except PortInUse as exc:
            self.out.error(str(exc))
            return 1
        except OSError as exc:
            if self.listener is None:
                raise
            self.out.error(f"cannot listen on {self.config.socket}: {exc.strerror}")
            return 1
        become_subreaper()
        code = self.migrate()
        if code != 0:
            self.out.error(f"migrations failed (exit {code})")
            return 1
        if self.stop_signal is not None:
            return 0
        try:
            forked = self.fork_children(ready=False)
            if not forked:
                self.out.error("the web process and the cluster could not be started")
                return 1
            self.children = {name: child for name, (child, _) in forked.items()}
            self.wait_ready(*forked["web"])
            body = self.wait_until_healthy(url)
            if body is not None:
                self.announce(url, body)
            while self.stop_signal is None:
                dead = self.dead_child()
                if dead:
                    name, code = dead
                    self.out.error(f"the {name} process exited with code {code}; stopping")
                    return 1
                if self.reload_wanted:
                    self.reload()
                self.watch_retiring()
                reap_orphans(self.keep())
                self.sleep(RETIRING_WAIT if self.retiring else IDLE_WAIT)
            self.out.say(f"Stopping TaskFlow ({signal.Signals(self.stop_signal).name})...")
            return 0
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        procs = [*self.children.values(), *(old.proc for old in self.retiring)]
        live = [proc.pid for proc in procs if proc.poll() is None]
        stop_everything(live, CHILD_GRACE, keep=self.keep())
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1)
        if self.listener is not None:
            self.listener.close()
        if self.unix_listener is not None:
            self.unix_listener.close()
            with contextlib.suppress(OSError):
                os.unlink(self.config.socket)
        self.out.say("TaskFlow stopped.")
