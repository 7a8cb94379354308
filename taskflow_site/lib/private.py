"""The server's own files stay the server's (docs/architecture.md, record 12): the data
directory 0700, the database, generated secrets, the PID file and backups 0600, so a job running
as another OS user can read none of them. Only what this process owns is changed."""

from __future__ import annotations

import contextlib
import os

DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def _restrict(path, mode: int) -> None:
    with contextlib.suppress(OSError):
        if os.stat(path).st_uid == os.geteuid():
            os.chmod(path, mode)


def private_dir(path) -> None:
    _restrict(path, 0o700)


def private_file(path) -> None:
    _restrict(path, 0o600)


def database_private(path) -> None:
    """A SQLite file and its companions (SQLite gives new ones the database file's mode)."""
    for suffix in DATABASE_SUFFIXES:
        private_file(f"{path}{suffix}")


def sqlite_connected(sender, connection, **kwargs) -> None:
    """django's connection_created: the database file, once per process."""
    if connection.vendor != "sqlite" or getattr(sqlite_connected, "done", False):
        return
    name = str(connection.settings_dict.get("NAME") or "")
    if name and not name.startswith(":memory:") and "mode=memory" not in name:
        database_private(name)
        sqlite_connected.done = True
