"""The command line: commands, flags (before or after the command) and the configuration they
select. argparse raises instead of exiting, so `main()` owns the exit codes."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from taskflow_site.config import Config, load_config

COMMANDS = {
    "run": "Start TaskFlow in the foreground (default)",
    "start": "Start as a daemon process (PID file, log file)",
    "stop": "Stop the running TaskFlow, daemon or foreground (SIGTERM, 10 s, then SIGKILL)",
    "restart": "Replace the web process and cluster without downtime (start if not running)",
    "status": "Show whether TaskFlow runs (exit 0 running, 3 not running, 1 stale PID file)",
    "health": "Check the health endpoint (exit 0 when healthy)",
    "version": "Show version info",
    "config": "Show the effective configuration and where each value comes from",
    "migrate": "Apply database migrations",
    "import-crontab": "Import a crontab as jobs (--dry-run shows them and their next runs)",
    "help": "Show help (taskflow help <command>)",
}

# flag dest -> config key; every flag is also handed to children as TASKFLOW_<KEY>
FLAG_KEYS = ("port", "host", "db_path", "data_dir", "log_level", "no_color", "workers", "debug")


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
        if name == "import-crontab":
            command.add_argument("file", nargs="?", default="-", help="crontab file; - = stdin")
            command.add_argument("--dry-run", action="store_true", help="show, save nothing")
            command.add_argument("--owner", help="username owning the jobs (default: the admin)")
            command.add_argument(
                "--format",
                choices=("auto", "user", "system"),
                default="auto",
                help="system: /etc/crontab style, a user field after the schedule",
            )
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
