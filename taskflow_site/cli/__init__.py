"""The `taskflow` command: run the web server and the cluster as one supervised tree, a daemon
mode with a PID file, and the small operator commands (status, health, config, migrate...).

Deliberately free of Django imports: the supervisor stays small and its children load Django.
`parser` reads the command line, `supervisor` is `taskflow run`, `children` what it shares
with `daemon` (start/stop/restart/status), `commands` holds the other handlers, `zygote` loads
Django once and forks the web process and the cluster from it, and `web` is the web process's
own entry point (the two modules here that load Django); docs/cli.md describes them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from taskflow_site.cli.commands import EXIT_USAGE, HANDLERS, cmd_help, cmd_version
from taskflow_site.cli.output import Out, output_for
from taskflow_site.cli.parser import UsageError, config_from, parse
from taskflow_site.config import ConfigError

EXIT_BROKEN_PIPE = 141  # what a shell reports for a command killed by SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `taskflow config | head`: the reader left; say nothing more (and let the
        # interpreter's final flush of stdout go nowhere instead of failing again)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
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
