"""The handlers of `taskflow <command>`: `run` (the supervisor, with a PID file when the daemon
started it), the one-shot commands, and the table of handlers `main()` dispatches on."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from taskflow_site import VERSION
from taskflow_site.cli.children import base_url, child_environ, django_command, http_get
from taskflow_site.cli.daemon import (
    cmd_restart,
    cmd_start,
    cmd_status,
    cmd_stop,
    pid_file_for,
    read_pid,
    remove_pid,
    write_pid,
)
from taskflow_site.cli.output import Out
from taskflow_site.cli.parser import COMMANDS, build_parser
from taskflow_site.cli.supervisor import Supervisor
from taskflow_site.config import KEYS, Config
from taskflow_site.lib.jobuser import isolation

EXIT_USAGE = 2


def cmd_run(args, config: Config, out: Out) -> int:
    """The supervisor, in the foreground or as the daemon: either way it writes the PID file,
    so `status`, `stop` and `restart` find it."""
    out.timestamps = True
    pid_file = Path(getattr(args, "pid_file", None) or pid_file_for(config))
    pid, state = read_pid(pid_file)
    if state == "running" and pid != os.getpid():
        out.error(f"TaskFlow is already running (pid {pid}) with {config.data_dir}")
        return 1
    write_pid(pid_file, os.getpid())
    try:
        return Supervisor(args, config, out).run()
    finally:
        remove_pid(pid_file, os.getpid())


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


def cmd_version(args, config: Config | None, out: Out) -> int:
    out.say(f"taskflow {VERSION} (Python {sys.version.split()[0]})")
    return 0


def config_reference_markdown() -> str:
    """The configuration table of docs/configuration.md, generated from config.KEYS."""
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
    out.say(f"\njobs: {isolation(config.job_user).describe()}")
    return 0


def cmd_migrate(args, config: Config, out: Out) -> int:
    return subprocess.call(django_command("migrate", "--noinput"), env=child_environ(args, config))


def cmd_import_crontab(args, config: Config, out: Out) -> int:
    """manage.py import_crontab with this configuration (its exit code: 0, 1 refused, 2 usage)."""
    argv = ["import_crontab", args.file, "--format", args.format]
    if args.dry_run:
        argv.append("--dry-run")
    if args.owner:
        argv += ["--owner", args.owner]
    return subprocess.call(django_command(*argv), env=child_environ(args, config))


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
    "import-crontab": cmd_import_crontab,
    "help": cmd_help,
}
