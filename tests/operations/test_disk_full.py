"""A full disk is named, end to end: TaskFlow on SQLite in a small tmpfs, a job flooding its log
until the disk is full. The API answers 507 with the error body, /health names the disk, the
log says so once per interval (no traceback), the job keeps running; once space is freed the
run ends `failure` saying how many lines the full disk cost, and everything works again."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from taskflow_site.lib.diskfull import DISK_FULL_MESSAGE
from tests.operations.taskflow import TaskFlow
from tests.support.processes import child_env, wait_for

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-staple"
DISK = "16m"
# what the ballast leaves free once TaskFlow runs: less than the flood, and less than the
# stored-log cap (LOG_MAX_BYTES keeps head and tail), so lines are still being stored when the
# disk fills; deleting the ballast is the operator's recovery
LEFT_FREE = 3 * 1024 * 1024

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)"),
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")), reason="SQLite in the data directory: SQLite pass"
    ),
]


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs, unmounted at the end (requested before `processes`, so after they stop)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


def test_a_full_data_disk_is_named_and_survived(small_disk, processes, tmp_path):
    data = small_disk / "data"
    release = tmp_path / "release"
    env = child_env(TASKFLOW_DB_PATH=str(data / "taskflow.db"))
    env.pop("DATABASE_URL", None)
    taskflow = TaskFlow(processes, data, environ=env).start()
    created = subprocess.run(
        [sys.executable, "manage.py", "createadmin", "--username", "boss", "--password-stdin"],
        input=PASSWORD + "\n",
        env={**env, "TASKFLOW_DATA_DIR": str(data)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    ballast = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize - LEFT_FREE
    (small_disk / "ballast").write_bytes(b"\0" * ballast)
    api = httpx.Client(base_url=taskflow.url, timeout=60)
    login = api.post("/api/auth/login", json={"username": "boss", "password": PASSWORD})
    api.headers["Authorization"] = f"Bearer {login.json()['data']['access']}"
    flood = api.post(
        "/api/jobs",
        json={
            "name": "flood",
            # a flood bigger than the space left, then a line now and then until released
            "script": "yes 'a line of a log flood, long enough to fill a small disk fast' "
            f"| head -n 100000; while [ ! -e {release} ]; do echo still here; sleep 0.1; done",
            "working_dir": "/tmp",
            "timeout_seconds": 600,
        },
    ).json()["data"]["id"]
    run_id = api.post(f"/api/jobs/{flood}/run").json()["data"]["runId"]

    def health() -> dict:
        return httpx.get(f"{taskflow.url}/health", timeout=30).json()

    wait_for(
        lambda: DISK_FULL_MESSAGE in health().get("problems", []),
        timeout=180,
        message="/health to name the full disk",
    )
    assert health()["checks"]["disk"].startswith("full (")

    def write_refused() -> httpx.Response | None:
        response = api.post("/api/jobs", json={"name": f"j{os.urandom(4).hex()}", "script": "true"})
        return response if response.status_code == 507 else None

    refused = wait_for(write_refused, timeout=120, interval=0.2, message="a 507")
    assert refused.json() == {
        "error": "the data directory's disk is full",
        "code": "DISK_FULL",
        "details": None,
    }
    assert api.get(f"/api/runs/{run_id}").json()["data"]["status"] == "running"

    (small_disk / "ballast").unlink()  # the operator frees space
    release.touch()

    def finished() -> dict | None:
        run = api.get(f"/api/runs/{run_id}").json()["data"]
        return run if run["status"] not in ("pending", "running") else None

    run = wait_for(finished, timeout=180, interval=0.2, message="the run to finish")
    assert run["status"] == "failure"
    assert (
        DISK_FULL_MESSAGE in run["errorMessage"] and "log lines not stored" in run["errorMessage"]
    )
    log = api.get(f"/api/runs/{run_id}/logs/download").text
    assert f"{DISK_FULL_MESSAGE}: " in log and "log lines were not stored" in log
    wait_for(lambda: health().get("status") == "ok", timeout=120, message="/health to recover")
    again = api.post("/api/jobs", json={"name": "after", "script": "true"})
    assert again.status_code == 201, again.text
    api.close()
    assert taskflow.stop() == 0

    output = taskflow.log()
    reports = [line for line in output.splitlines() if DISK_FULL_MESSAGE in line]
    assert reports, output[-3000:]
    assert len(reports) <= 12, reports  # once a minute per process, not once per write
    assert "Traceback" not in output, output[-6000:]
    with sqlite3.connect(data / "taskflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
