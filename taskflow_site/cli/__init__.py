"""The `taskflow` command: run the web server and the cluster as one supervised tree, a daemon
mode with a PID file, and the small operator commands (status, health, config, migrate...).

Deliberately free of Django imports: the supervisor stays small and its children load Django.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from taskflow_site.config import KEYS, KEYS_BY_NAME, Config, ConfigError, load_config

# `stop` waits this long after SIGTERM before SIGKILL (the seed's 10 s); the supervisor's own
# grace for its children is shorter so a normal stop never needs the SIGKILL.
STOP_TIMEOUT = 10.0
CHILD_GRACE = 8.0
HEALTH_WAIT = 60.0
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3  # LSB: "program is not running"
EXIT_STALE_PID = 1  # LSB: "program is dead and the PID file exists"

COMMANDS = {
    "run": "Start TaskFlow in the foreground (default)",
    "start": "Start as a daemon process (PID file, log file)",
    "stop": "Stop the running daemon (SIGTERM, 10 s, then SIGKILL)",
    "restart": "Restart the daemon",
    "status": "Show daemon status (exit 0 running, 3 not running, 1 stale PID file)",
    "health": "Check the health endpoint (exit 0 when healthy)",
    "version": "Show version info",
    "config": "Show the effective configuration and where each value comes from",
    "migrate": "Apply database migrations",
    "help": "Show help (taskflow help <command>)",
}

# flag dest -> config key; every flag is also handed to children as TASKFLOW_<KEY>
FLAG_KEYS = ("port", "host", "db_path", "data_dir", "log_level", "no_color", "workers", "debug")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("taskflow")
    except PackageNotFoundError:
        return "0.1.0"


# ---------------------------------------------------------------- argument parsing


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so main() owns the exit codes."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _flags_parser() -> argparse.ArgumentParser:
    flags = argparse.ArgumentParser(add_help=False)
    group = flags.add_argument_group("flags")
    sup = argparse.SUPPRESS  # defaults absent so `taskflow --port 1 run` is not overwritten
    group.add_argument("--port", default=sup, help="HTTP port (default: 8080)")
    group.add_argument("--host", default=sup, help="Address to bind (default: 127.0.0.1)")
    group.add_argument("--db-path", default=sup, help="SQLite database file path")
    group.add_argument("--data-dir", default=sup, help="Data directory (default: ~/.taskflow)")
    group.add_argument("--config", default=sup, help="Config file path (.yml or KEY=VALUE)")
    group.add_argument(
        "--log-level", default=sup, help="Log level: debug, info, warn, error (default: info)"
    )
    group.add_argument("--workers", default=sup, help="Runs executed at once (default: 1)")
    group.add_argument(
        "--no-color", action="store_const", const=True, default=sup, help="Disable colors"
    )
    group.add_argument(
        "--debug",
        action="store_const",
        const=True,
        default=sup,
        help="Debug mode: admin-only request profiling and stack dumps (never in production)",
    )
    group.add_argument("--version", action="store_true", default=sup, help="Show version")
    group.add_argument("--pid-file", default=sup, help=argparse.SUPPRESS)
    return flags


def build_parser() -> argparse.ArgumentParser:
    flags = _flags_parser()
    parser = Parser(
        prog="taskflow",
        description="TaskFlow: a self-hosted task scheduler and runner.",
        usage="taskflow [command] [flags]",
        parents=[flags],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Config priority: flags > environment (TASKFLOW_*) > config file "
        "(~/.taskflow/config.yml or /etc/taskflow/taskflow.env) > defaults.",
    )
    sub = parser.add_subparsers(
        title="commands", dest="command", metavar="command", parser_class=Parser
    )
    for name, text in COMMANDS.items():
        command = sub.add_parser(
            name, help=text, description=text, parents=[flags], prog=f"taskflow {name}"
        )
        if name == "help":
            command.add_argument("topic", nargs="?", help="a command")
        if name == "config":
            command.add_argument(
                "--markdown", action="store_true", help="Print the reference table of every key"
            )
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    args = build_parser().parse_args(list(argv))
    args.command = args.command or "run"
    return args


def config_from(args: argparse.Namespace, environ=None) -> Config:
    flags = {key: getattr(args, key) for key in FLAG_KEYS if hasattr(args, key)}
    return load_config(flags=flags, environ=environ, config_file=getattr(args, "config", None))


# ---------------------------------------------------------------- output


class Out:
    def __init__(self, color: bool, timestamps: bool = False):
        self.color = color
        self.timestamps = timestamps  # `run`: its lines sit among the children's log lines

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def stamp(self, text: str) -> str:
        return f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}" if self.timestamps else text

    def say(self, text: str = "") -> None:
        print(self.stamp(text), flush=True)

    def ok(self, text: str) -> None:
        self.say(self.paint(text, "32"))

    def warn(self, text: str) -> None:
        print(self.stamp(self.paint(f"taskflow: {text}", "33")), file=sys.stderr, flush=True)

    def error(self, text: str) -> None:
        print(self.stamp(self.paint(f"taskflow: {text}", "31")), file=sys.stderr, flush=True)


def output_for(config: Config | None) -> Out:
    no_color = bool(config and config.no_color) or bool(os.environ.get("NO_COLOR"))
    return Out(color=not no_color and sys.stdout.isatty())


# ---------------------------------------------------------------- children


def child_environ(args: argparse.Namespace, config: Config) -> dict[str, str]:
    """The environment of every child: ours plus each flag as TASKFLOW_<KEY>."""
    env = dict(os.environ)
    for name in FLAG_KEYS:
        if config.sources.get(name) == "flag":
            value = config.values[name]
            if isinstance(value, bool):
                value = "true" if value else "false"
            env[KEYS_BY_NAME[name].env_names[0]] = str(value)
    if getattr(args, "config", None):
        env["TASKFLOW_CONFIG"] = str(Path(args.config).expanduser().resolve())
    env["DJANGO_SETTINGS_MODULE"] = "taskflow_site.settings"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the supervisor dies, even by SIGKILL (Linux only)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def django_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "django", *args]


def base_url(config: Config) -> str:
    host = config.host
    if host in {"0.0.0.0", "", "*"}:  # noqa: S104 (we connect, not bind)
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{config.port}"


def http_get(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    """(status, JSON body) — status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http only)
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def process_tree(pid: int) -> list:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def terminate_trees(pids: Sequence[int], grace: float) -> None:
    """SIGTERM each pid, wait up to `grace`, then SIGKILL whatever remains of each tree
    (collected before the TERM, so descendants reparented to init are not missed)."""
    import psutil

    trees = {pid: process_tree(pid) for pid in pids}
    for pid in pids:
        # only the child itself: it stops its own workers and jobs in order
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    everyone = [proc for tree in trees.values() for proc in tree]
    _, alive = psutil.wait_procs(everyone, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


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
            preexec_fn=_die_with_parent,  # the supervisor has no threads: safe
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


# ---------------------------------------------------------------- PID file


def pid_file_for(config: Config) -> Path:
    return Path(config.data_dir) / "taskflow.pid"


def log_file_for(config: Config) -> Path:
    return Path(config.data_dir) / "logs" / "taskflow.log"


def is_taskflow_process(pid: int) -> bool:
    """Alive, not a zombie, and a `taskflow run` (not a recycled PID of something else)."""
    import psutil

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
    return is_ours and "run" in cmdline


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
    temp.replace(path)


def remove_pid(path: Path, pid: int) -> None:
    """Remove the PID file only if it still names `pid` (a newer daemon may own it)."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        if int(path.read_text().strip()) == pid:
            path.unlink()


# ---------------------------------------------------------------- commands


def cmd_run(args, config: Config, out: Out) -> int:
    out.timestamps = True
    pid_file = getattr(args, "pid_file", None)
    if pid_file:
        write_pid(Path(pid_file), os.getpid())
    try:
        return Supervisor(args, config, out).run()
    finally:
        if pid_file:
            remove_pid(Path(pid_file), os.getpid())


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
    write_pid(pid_file, proc.pid)
    url = base_url(config)
    deadline = time.monotonic() + HEALTH_WAIT
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            remove_pid(pid_file, proc.pid)
            out.error(f"TaskFlow exited during start (code {code}); see {log_file}")
            return 1
        status, _ = http_get(f"{url}/health", timeout=2)
        if status == 200:
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
    import psutil

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


def cmd_restart(args, config: Config, out: Out) -> int:
    cmd_stop(args, config, out)
    return cmd_start(args, config, out)


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


def cmd_health(args, config: Config, out: Out) -> int:
    url = f"{base_url(config)}/health"
    status, body = http_get(url, timeout=5)
    if status == 200:
        out.ok(f"healthy: {url}")
        return 0
    if status == 0:
        out.error(f"unhealthy: nothing answers at {url}")
    else:
        problems = "; ".join(body.get("problems", [])) or f"HTTP {status}"
        out.error(f"unhealthy: {problems}")
    return 1


def cmd_version(args, config: Config, out: Out) -> int:
    out.say(f"taskflow {version()} (Python {sys.version.split()[0]})")
    return 0


def config_reference_markdown() -> str:
    """The README's configuration table, generated from taskflow_site.config.KEYS."""
    lines = ["| Key | Environment | Default | Meaning |", "|---|---|---|---|"]
    for key in KEYS:
        env = ", ".join(f"`{name}`" for name in key.env_names)
        if isinstance(key.default, list):
            default = ",".join(key.default) or "(empty)"
        else:
            default = "(unset)" if key.default is None else str(key.default).lower()
        if key.secret:
            default += " (secret)"
        lines.append(f"| `{key.name}` | {env} | `{default}` | {key.help} |")
    return "\n".join(lines)


def cmd_config(args, config: Config, out: Out) -> int:
    if getattr(args, "markdown", False):
        out.say(config_reference_markdown())
        return 0
    rows = config.describe()
    width = max(len(name) for name, _, _ in rows)
    value_width = min(48, max(len(value) for _, value, _ in rows))
    for name, value, source in rows:
        shown = f"{value:<{value_width}}"
        if source != "default":
            shown = out.paint(shown, "1")
        out.say(f"{name:<{width}}  {shown}  {out.paint(source, '2')}")
    return 0


def cmd_migrate(args, config: Config, out: Out) -> int:
    return subprocess.call(django_command("migrate", "--noinput"), env=child_environ(args, config))


def cmd_help(args, config: Config | None, out: Out) -> int:
    parser = build_parser()
    topic = getattr(args, "topic", None)
    if not topic:
        parser.print_help()
        return 0
    if topic not in COMMANDS:
        out.error(f"unknown command {topic!r}; commands: {', '.join(COMMANDS)}")
        return EXIT_USAGE
    subparsers = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    subparsers.choices[topic].print_help()
    return 0


HANDLERS = {
    "run": cmd_run,
    "start": cmd_start,
    "stop": cmd_stop,
    "restart": cmd_restart,
    "status": cmd_status,
    "health": cmd_health,
    "version": cmd_version,
    "config": cmd_config,
    "migrate": cmd_migrate,
    "help": cmd_help,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse(argv)
    except UsageError as exc:
        print("usage: taskflow [command] [flags]   (taskflow help)", file=sys.stderr)
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    args.raw_argv = argv
    if getattr(args, "version", False):
        return cmd_version(args, None, Out(False))
    if args.command == "help":
        return cmd_help(args, None, Out(False))
    try:
        config = config_from(args)
    except ConfigError as exc:
        output_for(None).error(f"configuration error: {exc}")
        return EXIT_USAGE
    return HANDLERS[args.command](args, config, output_for(config))
