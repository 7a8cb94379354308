"""D4: `manage.py backup` while a log flood writes: the copy opens, passes integrity_check and
holds every run committed before it started."""

import gzip
import io
import sqlite3
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.management.commands.backup import pg_dump_hint
from runs.models import Run
from tests.factories import JobFactory, RunFactory
from tests.support.processes import wait_for


def flood(db_path, run_id, stop, written):
    """Another connection appending log chunks as fast as it can, one transaction each."""
    db = sqlite3.connect(db_path, timeout=30)
    line = 1
    while not stop.is_set():
        with db:
            db.execute(
                "INSERT INTO runs_logchunk (run_id, first_line, last_line, created_at, data)"
                " VALUES (?, ?, ?, ?, ?)",
                (run_id, line, line + 99, timezone.now().isoformat(), "o0\tx" * 100),
            )
        line += 100
        written.append(line)
    db.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("compress", [False, True])
def test_a_backup_taken_during_a_log_flood_passes_the_integrity_check(tmp_path, compress):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite backup")
    job = JobFactory()
    runs_before = [RunFactory(job=job) for _ in range(25)]
    stop, written = threading.Event(), []
    writer = threading.Thread(
        target=flood,
        args=(connection.settings_dict["NAME"], runs_before[0].pk.hex, stop, written),
    )
    writer.start()
    try:
        wait_for(lambda: len(written) >= 20 or not writer.is_alive(), message="the flood")
        assert writer.is_alive()
        target = tmp_path / ("copy.db.gz" if compress else "copy.db")
        out = io.StringIO()
        call_command("backup", "--output", str(target), stdout=out)
        rows_during = len(written)
    finally:
        stop.set()
        writer.join(30)

    assert "integrity_check: ok" in out.getvalue()
    assert target.exists()
    if compress:
        plain = tmp_path / "plain.db"
        plain.write_bytes(gzip.decompress(target.read_bytes()))
        target = plain
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    run_ids = {row[0] for row in copy.execute("SELECT id FROM runs_run")}
    assert {run.pk.hex for run in runs_before} == run_ids
    assert 20 <= copy.execute("SELECT COUNT(*) FROM runs_logchunk").fetchone()[0] <= rows_during
    copy.close()
    assert Run.objects.count() == 25


def test_it_names_the_pg_dump_command_for_postgresql():
    hint = pg_dump_hint(
        {"NAME": "taskflow", "HOST": "db.internal", "PORT": "5432", "USER": "tf"}, "20260101"
    )
    assert hint == (
        "pg_dump --format=custom --file=taskflow-20260101.dump --host=db.internal "
        "--port=5432 --username=tf taskflow"
    )
