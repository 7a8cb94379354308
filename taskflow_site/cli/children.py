"""What the supervisor and the daemon commands share: the children's environment and command
lines, the server's address and /health, and stopping whole process trees."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import psutil

from taskflow_site.cli.parser import FLAG_KEYS
from taskflow_site.config import KEYS_BY_NAME, Config


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


def die_with_parent() -> None:
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


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def terminate_trees(pids: Sequence[int], grace: float) -> None:
    """SIGTERM each pid, wait up to `grace`, then SIGKILL whatever remains of each tree
    (collected before the TERM, so descendants reparented to init are not missed)."""
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
