"""Wake lingering drain loops at once when a run is queued, django-q2's pusher when a delivery
is queued, and the cluster loop's dispatcher when a drain retires or ends (no polling at idle).

Each lingering drain binds a Unix datagram socket under DATA_DIR/wake/ (or, when that path is
too long for a socket address, a private directory in /tmp named after it); `wake_workers()`
sends one byte to each. The cluster's pusher binds one too (runs/engine/sentinel.py), named
after its cluster process, whose enqueues wake it (`wake_pusher()`), and so does the cluster
loop (`wake_cluster()`). Dead sockets are unlinked; the drains also poll the database every
few seconds, the pusher its queue and the dispatcher its drains every few more, so a lost
datagram (or a drain on another host) only costs latency.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
from pathlib import Path

from django.conf import settings

SUN_PATH_MAX = 107  # bytes in a Unix socket's address (sockaddr_un.sun_path, less the NUL)
DRAIN, PUSHER, CLUSTER = "drain", "pusher", "cluster"  # who binds: a socket's name begins so
SOCKET_NAME_MAX = len("pusher-4194304-abcdef.sock")  # the longest name one binds


def wake_dir() -> Path:
    path = Path(settings.DATA_DIR) / "wake"
    if len(os.fsencode(path)) + 1 + SOCKET_NAME_MAX > SUN_PATH_MAX:
        # a deep data directory: bind() would fail with "AF_UNIX path too long"
        digest = hashlib.sha256(os.fsencode(settings.DATA_DIR)).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"taskflow-wake-{os.getuid()}-{digest}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid != os.getuid():  # /tmp is shared: never someone else's directory
        raise PermissionError(f"{path} belongs to another user")
    return path


class WakeSocket:
    """The receiving end a drain (or the pusher) waits on (fileno() works with select)."""

    def __init__(self, kind: str = DRAIN, owner: int | None = None):
        owner = os.getpid() if owner is None else owner
        self.path = wake_dir() / f"{kind}-{owner}-{os.urandom(3).hex()}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def nudge(self) -> None:
        """Wake whoever waits on this socket (from another thread of the same process)."""
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with sender, contextlib.suppress(OSError):  # a full queue is awake already
            sender.sendto(b"!", str(self.path))

    def drain(self) -> None:
        """Discard pending wake-ups (one pass over the queue covers them all)."""
        with contextlib.suppress(BlockingIOError, OSError):
            while self.sock.recv(64):
                pass

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def wake_workers() -> int:
    """Nudge every lingering drain on this host; returns how many were reached."""
    return _wake(DRAIN)


def wake_pusher() -> int:
    """Nudge the pusher of this cluster: it queued a delivery. Only ours: during a restart the
    cluster handing over also has a pusher, which would take the delivery its busy worker
    cannot start (it looks at the queue only every few seconds)."""
    return _wake(f"{PUSHER}-{os.getpid()}")


def wake_cluster() -> int:
    """Nudge the cluster loops on this host: a drain retired or ended, so its dispatcher
    queues the successor now rather than at its next look (each counts only its own)."""
    return _wake(CLUSTER)


def _wake(kind: str) -> int:
    try:
        entries = list(os.scandir(wake_dir()))
    except OSError:
        return 0
    reached = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for entry in entries:
            if not (entry.name.startswith(f"{kind}-") and entry.name.endswith(".sock")):
                continue
            try:
                sender.sendto(b"!", entry.path)
                reached += 1
            except BlockingIOError:
                reached += 1  # its queue is full of wake-ups already
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)  # nobody bound: a drain that died
            except OSError:
                continue
    return reached
