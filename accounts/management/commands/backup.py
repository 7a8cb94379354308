"""`manage.py backup`: an online copy of the SQLite database, checked before it is kept.

Uses SQLite's backup API in one step: under WAL that reads one consistent snapshot while the
worker keeps writing (a stepwise backup would restart on every concurrent write).
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from taskflow_site.lib.private import private_file


def sqlite_backup(*, source: str, target: Path) -> dict:
    """Copy `source` into `target` (a self-contained file) and check it; returns a summary."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    partial.touch(mode=0o600)  # a copy of the database is the server's alone from the start
    src = sqlite3.connect(source, timeout=30)
    dest = sqlite3.connect(partial)
    try:
        src.backup(dest)  # pages=-1: one step, one snapshot
        dest.execute("PRAGMA journal_mode=DELETE")  # the copy needs no -wal file beside it
        integrity = dest.execute("PRAGMA integrity_check").fetchone()[0]
        tables = {row[0] for row in dest.execute("SELECT name FROM sqlite_master")}
        runs = (
            dest.execute("SELECT COUNT(*) FROM runs_run").fetchone()[0]
            if ("runs_run" in tables)
            else 0
        )
    finally:
        dest.close()
        src.close()
    if integrity != "ok":
        partial.unlink(missing_ok=True)
        raise CommandError(f"integrity check of the copy failed: {integrity}")
    partial.replace(target)
    return {"integrity": integrity, "runs": runs, "bytes": target.stat().st_size}


def gzip_file(path: Path) -> Path:
    packed = path.with_name(path.name + ".gz")
    with open(path, "rb") as raw, gzip.open(packed, "wb", compresslevel=6) as out:
        shutil.copyfileobj(raw, out, 1024 * 1024)
    path.unlink()
    return packed


def pg_dump_hint(db: dict, stamp: str) -> str:
    parts = ["pg_dump", "--format=custom", f"--file=taskflow-{stamp}.dump"]
    if db.get("HOST"):
        parts.append(f"--host={db['HOST']}")
    if db.get("PORT"):
        parts.append(f"--port={db['PORT']}")
    if db.get("USER"):
        parts.append(f"--username={db['USER']}")
    parts.append(db["NAME"])
    return " ".join(parts)


class Command(BaseCommand):
    help = (
        "Back up the SQLite database while TaskFlow runs (SQLite online backup API), check the "
        "copy with PRAGMA integrity_check and keep it only if it passes. Default target: "
        "<data_dir>/backups/taskflow-<UTC time>.db. On PostgreSQL, prints the pg_dump command "
        "to use instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="Target file (default under <data_dir>/backups)")
        parser.add_argument("--gzip", action="store_true", help="Compress the copy (.gz)")

    def handle(self, *args, **options):
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        if connection.vendor != "sqlite":
            hint = pg_dump_hint(connection.settings_dict, stamp)
            self.stdout.write(
                "TaskFlow runs on PostgreSQL: back it up with pg_dump (password from ~/.pgpass "
                f"or PGPASSWORD):\n  {hint}\nRestore: pg_restore --clean --dbname=<db> <file>"
            )
            return
        source = str(connection.settings_dict["NAME"])
        if options["output"]:
            target = Path(options["output"]).expanduser()
        else:
            target = Path(settings.CONFIG.data_dir) / "backups" / f"taskflow-{stamp}.db"
        if target.suffix == ".gz":  # --output x.db.gz implies --gzip
            target, options["gzip"] = target.with_suffix(""), True
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        summary = sqlite_backup(source=source, target=target)
        if options["gzip"]:
            target = gzip_file(target)
            private_file(target)
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written to {target} (integrity_check: {summary['integrity']}, "
                f"{summary['runs']} runs, {summary['bytes']} bytes before compression)"
            )
        )
