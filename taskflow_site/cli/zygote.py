"""The one parent the web process and the cluster fork from (docs/architecture.md, record 13).

`taskflow run` starts this with the children to make (`qcluster`, `web`), the listening
sockets and the "ready" pipes as file descriptors. It imports Django, the apps, the URLconf,
the ASGI application and the cluster's command — opening no database connection and starting
no thread — freezes what it loaded out of the collector's reach (gc.freeze), forks each child,
writes their pids to `--pids-fd` and exits. The children, re-parented to the supervisor (their
subreaper), share that image copy-on-write, so it is counted once in the machine's memory, not
once per process (issue 14). A reload starts a new zygote: new code is imported anew.

`qcluster` comes first on the command line because settings leave the `daphne` app out of
INSTALLED_APPS when argv[1] is "qcluster": the image holds no Twisted reactor and no event
loop; the web child imports daphne's server after the fork.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import os
import signal
import sys
import threading
import time
import traceback

import django
from django.conf import settings
from django.core.management import call_command, load_command_class
from django.db import connections
from django.urls import get_resolver

from taskflow_site.cli.children import die_with_parent

KINDS = ("qcluster", "web")
# what daphne's server imports, short of the module itself (daphne.server installs Twisted's
# asyncio reactor and makes an event loop as it is imported: the web child does that). Imported
# here they are one shared copy; imported in the child, each reference count their import
# touches copies a page of this image too (web: 31 -> 4 MiB of its own, issue 14)
WEB_MODULES = (
    "twisted.internet.asyncioreactor",
    "twisted.internet.endpoints",
    "twisted.logger",
    "daphne.http_protocol",
    "daphne.ws_protocol",
)
# optional imports of libraries, found absent on purpose where this configuration has no use for
# them (a module set to None in sys.modules raises ImportError, which each importer handles):
# DRF's compat imports django.contrib.postgres, which loads psycopg (~11 MiB), and `requests`
# (~4 MiB, for its test client); psycopg is the driver on PostgreSQL, `requests` what single
# sign-on's backend (accounts/oidc_backend.py) talks to the provider with
POSTGRES_DRIVERS = ("psycopg", "psycopg2")
SSO_CLIENT = ("requests",)
# what `taskflow status`, the tests and `ps` see: the command line each child had when it was
# started as a program of its own
TITLES = {"web": "-m taskflow_site.cli.web", "qcluster": "-m django qcluster"}


def preload() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        sys.modules.update(dict.fromkeys(POSTGRES_DRIVERS))
    if "accounts.oidc_backend.OidcBackend" not in settings.AUTHENTICATION_BACKENDS:
        sys.modules.update(dict.fromkeys(SSO_CLIENT))
    django.setup()
    import django_q.cluster  # noqa: F401  (the cluster's own modules)

    import taskflow_site.asgi  # noqa: F401  (the ASGI application, channels' routing)

    get_resolver().url_patterns  # noqa: B018  (imports the URLconf: views, serializers, admin)
    load_command_class("runs", "qcluster")
    for module in WEB_MODULES:
        importlib.import_module(module)
    if "twisted.internet.reactor" in sys.modules:
        raise RuntimeError("the zygote must not install a Twisted reactor")
    for connection in connections.all(initialized_only=True):
        connection.close()
    if threading.active_count() != 1:
        raise RuntimeError(f"the zygote must not fork with threads: {threading.enumerate()}")
    gc.collect()
    gc.freeze()


def set_title(words: list[str]) -> None:
    """Rewrite this process's command line (/proc/PID/cmdline) in place, within its length.

    Word by word (NUL-separated, as exec leaves it): `taskflow status`, restarts and psutil
    read argv words. setproctitle was tried and writes one space-joined title, which they
    would no longer match."""
    with open("/proc/self/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48 and 49)
    title = "\0".join(words).encode()[: end - start - 1]
    ctypes.memmove(start, title.ljust(end - start, b"\0"), end - start)


def run_child(kind: str, args: argparse.Namespace, supervisor: int) -> int:
    """In the forked child: become the process the supervisor expects, then serve."""
    zygote = os.getppid()
    os.setsid()  # its own group, as before: Ctrl-C reaches the supervisor, which stops us
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR2):
        signal.signal(signum, signal.SIG_DFL)
    os.close(args.pids_fd)
    argv = [sys.executable, *TITLES[kind].split()]
    if kind == "web":
        for fd in args.fd:
            argv += ["--fd", str(fd)]
        ready, other = args.web_ready_fd, args.cluster_ready_fd
    else:
        for fd in args.fd:  # the cluster serves no socket: the supervisor and web hold them
            os.close(fd)
        ready, other = args.cluster_ready_fd, args.web_ready_fd
    if other is not None:
        os.close(other)
    if ready is not None:
        argv += ["--ready-fd", str(ready)]
    set_title(argv)
    while os.getppid() == zygote:  # the zygote exits right after forking us
        time.sleep(0.005)
    die_with_parent()
    if os.getppid() != supervisor:  # the supervisor died before we were handed to it
        return 1
    if kind == "web":
        from taskflow_site.cli.web import serve  # imports daphne: its reactor is ours alone

        serve(fds=args.fd, ready_fd=ready)
        return 0
    call_command("qcluster", ready_fd=ready, skip_checks=False)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="taskflow-zygote")
    parser.add_argument("kinds", nargs="+", choices=KINDS)
    parser.add_argument("--fd", type=int, action="append", default=[], help="listening socket")
    parser.add_argument("--web-ready-fd", type=int, default=None)
    parser.add_argument("--cluster-ready-fd", type=int, default=None)
    parser.add_argument("--pids-fd", type=int, required=True, help="one 'KIND PID' line each")
    args = parser.parse_args()
    supervisor = os.getppid()
    preload()
    born = []
    for kind in args.kinds:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:  # the child returns from main(), never into this loop
                return run_child(kind, args, supervisor)
            except Exception:
                traceback.print_exc()
                return 1
        born.append(f"{kind} {pid}\n")
    os.write(args.pids_fd, "".join(born).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
