"""A full disk, named: recognise "no space left" in whatever form the database or the OS raises
it, say so once per interval instead of once per failed write, and measure the data
directory's free space for /health (docs/operations.md, "A full disk").

Nothing is lost that was stored: SQLite rolls back the write that did not fit and the next one
succeeds once space is freed, so callers report, keep what they can, and try again later.
"""

from __future__ import annotations

import errno
import logging
import os

from taskflow_site.lib.logs import OncePerInterval

DISK_FULL_MESSAGE = "the data directory's disk is full"
REPORT_INTERVAL_SECONDS = 60.0
# /health calls the disk full below this much free space: SQLite needs room for a few WAL
# frames, and the next log flush is up to 1 MiB
LOW_SPACE_BYTES = 1024 * 1024
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")
_PG_DISK_FULL = "53100"  # PostgreSQL's SQLSTATE disk_full

logger = logging.getLogger("taskflow.disk")
_reports = OncePerInterval(logger, REPORT_INTERVAL_SECONDS)


def is_disk_full(exc: BaseException | None) -> bool:
    """Is this error (or one it was raised from) a full disk or an exhausted quota?"""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            return True
        if getattr(exc, "sqlstate", None) == _PG_DISK_FULL:  # psycopg 3
            return True
        if any(text in str(exc).lower() for text in _FULL_TEXTS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_report(where: str) -> bool:
    """Log the full disk at most once per REPORT_INTERVAL_SECONDS in this process."""
    return _reports.log(
        "disk-full", f"{DISK_FULL_MESSAGE} ({where}); writes fail until space is freed"
    )


def free_bytes(path: str | os.PathLike) -> int | None:
    """Bytes an unprivileged writer may still use on the file system holding `path`."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize
