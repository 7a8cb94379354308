"""What the database connection of *this* process runs with (SQLite pragmas, or PostgreSQL).

Every process (web, cluster, management commands) reports it: /health carries the web's,
`qcluster` logs its own at start, `manage.py pragmas` prints a command's (docs/architecture.md,
record 8).
"""

from __future__ import annotations

import json
import logging
import os

from django.db import connection

MIN_BUSY_TIMEOUT_MS = 5000


def database_pragmas() -> dict:
    """{"vendor": ..., and for SQLite journal_mode, foreign_keys, busy_timeout_ms, ok}."""
    if connection.vendor != "sqlite":
        return {"vendor": connection.vendor, "ok": True}
    values = {}
    with connection.cursor() as cursor:
        for pragma in ("journal_mode", "foreign_keys", "busy_timeout"):
            cursor.execute(f"PRAGMA {pragma}")
            values[pragma] = cursor.fetchone()[0]
    journal_mode = str(values["journal_mode"]).lower()
    foreign_keys = bool(values["foreign_keys"])
    busy_timeout = int(values["busy_timeout"])
    return {
        "vendor": "sqlite",
        "journal_mode": journal_mode,
        "foreign_keys": foreign_keys,
        "busy_timeout_ms": busy_timeout,
        "ok": journal_mode == "wal" and foreign_keys and busy_timeout >= MIN_BUSY_TIMEOUT_MS,
    }


def log_database_pragmas(role: str) -> dict:
    """Log this process's database settings at start-up; a warning when they are wrong."""
    pragmas = database_pragmas()
    level = logging.INFO if pragmas["ok"] else logging.WARNING
    logging.getLogger("taskflow.database").log(
        level, "%s pid %s database pragmas %s", role, os.getpid(), json.dumps(pragmas)
    )
    return pragmas
