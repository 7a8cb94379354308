"""D2: every process runs SQLite with WAL, foreign keys on and a busy timeout of at least 5 s:
the web process (its /health body), the worker (qcluster logs it) and a management command."""

import json
import re
import subprocess
import sys

import pytest
from django.db import connection

from taskflow_site.cli.children import http_get
from taskflow_site.lib.dbcheck import database_pragmas
from tests.support.processes import ROOT, child_env, free_port, wait_for, wait_for_port


def assert_sqlite_settings(pragmas):
    assert pragmas["vendor"] == "sqlite"
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["foreign_keys"] is True
    assert pragmas["busy_timeout_ms"] >= 5000
    assert pragmas["ok"] is True


@pytest.fixture
def sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite pragmas")


@pytest.mark.django_db
def test_this_process_runs_with_wal_foreign_keys_and_a_busy_timeout(sqlite_only):
    assert_sqlite_settings(database_pragmas())


@pytest.mark.django_db(transaction=True)
def test_a_management_command_reports_its_settings(sqlite_only):
    done = subprocess.run(
        [sys.executable, "manage.py", "pragmas"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert_sqlite_settings(json.loads(done.stdout))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_web_and_the_worker_processes_report_their_settings(sqlite_only, processes):
    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    processes.start("web", [*argv, "taskflow_site.asgi:application"])
    processes.manage("cluster", "qcluster")
    pattern = re.compile(r"cluster pid (\d+) database pragmas (\{.*\})")
    found = wait_for(
        lambda: pattern.search(processes.log_text("cluster")), timeout=90, message="pragmas"
    )
    assert_sqlite_settings(json.loads(found.group(2)))
    wait_for_port(port)
    _, body = http_get(f"http://127.0.0.1:{port}/health", timeout=30)
    assert_sqlite_settings(body["database"])
