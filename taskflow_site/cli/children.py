"""What the supervisor and the daemon commands share: the children's environment and command
lines, the listening socket, the server's address and /health, and stopping whole process
trees, orphans included."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import psutil

from taskflow_site.cli.parser import FLAG_KEYS
from taskflow_site.config import KEYS_BY_NAME, Config

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
LISTEN_BACKLOG = 1024  # connections wait here while one web process hands over to the next


class PortInUse(Exception):
    pass


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


def _prctl(option: int, value: int) -> bool:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def die_with_parent() -> None:
    """In the child: get SIGTERM if the supervisor dies, even by SIGKILL (Linux only)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def become_subreaper() -> bool:
    """Orphans of our children (a Sentinel whose cluster died, a run whose drain died) are
    re-parented to us instead of init, so we can stop them (docs/architecture.md, record 13)."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


class ForkedChild:
    """A child the zygote forked and handed to us (we are its subreaper): the part of
    subprocess.Popen the supervisor uses, by pid."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # collected elsewhere: gone, its code unknown
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def django_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "django", *args]


def bind_listener(host: str, port: int) -> socket.socket:
    """The web server's listening socket, owned by the supervisor and inherited by each web
    process in turn: connections queue in it while one web process replaces another."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host.strip("[]") == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host.strip("[]"), port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is already in use (another TaskFlow? "
                "`taskflow status`; or choose another with --port)"
            ) from exc
        raise
    sock.set_inheritable(True)
    return sock


def bind_unix_listener(path: str) -> socket.socket:
    """A Unix socket the web process serves beside TCP, for a reverse proxy on this machine:
    its peer is "unix", which trusted_proxy_addresses may name without trusting any TCP peer (a
    local job included). Mode 0660: add the proxy's user (www-data) to the server's group."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:  # nothing listens: a stale socket of an earlier run, or no file
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
    else:
        raise PortInUse(f"another server listens on the socket {path}")
    finally:
        probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o117)  # 0660 from the start: never a moment open to others
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(umask)
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def port_is_free(host: str, port: int) -> bool:
    try:
        bind_listener(host, port).close()
    except PortInUse:
        return False
    except OSError:
        return True  # not ours to judge here: the supervisor reports the real error
    return True


def base_url(config: Config) -> str:
    host = config.host
    if host in {"0.0.0.0", "", "*"}:  # noqa: S104 (we connect, not bind)
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{config.port}"


def served_host(config: Config) -> str | None:
    """A Host header the server accepts (for pages other than /health, which answers any Host
    from loopback): the first listed host name, None when any is served."""
    for host in config.allowed_hosts:
        if host != "*":
            return host.lstrip(".")
    return None


def http_get(url: str, timeout: float = 5.0, host: str | None = None) -> tuple[int, dict]:
    """(status, JSON body) — status 0 when nothing answers. http.client, not urllib.request:
    the supervisor keeps what it imports for the server's whole life, and urllib.request's
    openers cost it ~1 MiB more (docs/architecture.md, "Idle ≈ 0")."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not an http URL: {url}")
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", target, headers={"Host": host} if host else {})
        response = connection.getresponse()
        status, body = response.status, response.read()
    except (OSError, http.client.HTTPException):
        return 0, {}
    finally:
        connection.close()
    try:
        return status, json.loads(body or b"{}")
    except ValueError:
        return status, {}


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def descendants() -> list[psutil.Process]:
    """Every live process below this one (orphans re-parented to us, a subreaper, included)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def reap_orphans(keep: set[int]) -> None:
    """Collect exited children we did not start ourselves (re-parented orphans); the ones in
    `keep` belong to their subprocess.Popen, which collects them."""
    with contextlib.suppress(psutil.Error):
        for proc in psutil.Process().children():
            if proc.pid not in keep:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(proc.pid, os.WNOHANG)


def stop_everything(pids: list[int], grace: float, keep: set[int]) -> None:
    """SIGTERM each pid (each stops its own workers and jobs in order) and every orphan already
    re-parented to us, wait up to `grace` for the whole tree to end, then SIGKILL whatever is
    below us until nothing is left (new orphans keep arriving as their parents die)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(psutil.Error):
        for proc in psutil.Process().children():
            if proc.pid not in keep:
                with contextlib.suppress(psutil.Error):
                    proc.terminate()
    deadline = time.monotonic() + grace
    while descendants() and time.monotonic() < deadline:
        reap_orphans(keep)
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = descendants()
        if not left:
            break
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(left, timeout=0.5)
        reap_orphans(keep)
