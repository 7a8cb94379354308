"""Shared set-up for the engine benches: a fresh data dir + SQLite file, a real qcluster,
and the peers from ../shared/peers (floor.py functions, django-q2's bench_djq.py).

Not a test. Import this before Django: it points TASKFLOW_DATA_DIR at a temp dir.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(os.environ.get("TASKFLOW_PEERS_DIR", ROOT.parent / "shared" / "peers"))
PEERS_PYTHON = os.environ.get("TASKFLOW_PEERS_PYTHON", "/tmp/peers-venv/bin/python")


def setup(**env: str) -> dict[str, str]:
    """Fresh data dir and database for this bench; returns the environment for children."""
    data_dir = tempfile.mkdtemp(prefix="taskflow-bench-")
    # SQLite and no Redis unless the bench passes them: nothing inherited by accident
    for name in (
        "DATABASE_URL",
        "TASKFLOW_DATABASE_URL",
        "REDIS_URL",
        "TASKFLOW_REDIS_URL",
        "TASKFLOW_TESTING",
    ):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "TASKFLOW_DATA_DIR": data_dir,
            "TASKFLOW_CONFIG": os.devnull,
            "DJANGO_SETTINGS_MODULE": "taskflow_site.settings",
            "TASKFLOW_LOG_LEVEL": "warn",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
    )
    sys.path.insert(0, str(ROOT))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=os.environ
    )
    import django

    django.setup()
    return dict(os.environ)


def start_cluster(workers: int = 1, timeout: float = 120) -> subprocess.Popen:
    from runs.models import WorkerHeartbeat

    log = open(Path(os.environ["TASKFLOW_DATA_DIR"]) / "qcluster.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster", "--workers", str(workers)],
        cwd=ROOT,
        env=os.environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not WorkerHeartbeat.objects.filter(role="worker", retired_at=None).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("qcluster did not start a drain loop; see qcluster.log")
        time.sleep(0.1)
    return proc


def stop_cluster(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def floor_module():
    """The peers' floor.py, imported so a bench can run just the trials it needs."""
    spec = importlib.util.spec_from_file_location("peers_floor", PEERS / "floor.py")
    module = importlib.util.module_from_spec(spec)
    saved = sys.argv
    sys.argv = [str(PEERS / "floor.py")]
    try:
        spec.loader.exec_module(module)
    finally:
        sys.argv = saved
    return module


def djq(*args: str, timeout: float = 900) -> dict | None:
    """Run django-q2's bench driver (its own venv, fresh SQLite WAL db); its JSON result."""
    if not Path(PEERS_PYTHON).exists():
        print(f"  (peer skipped: {PEERS_PYTHON} missing; see {PEERS}/README.md)")
        return None
    env = {**os.environ, "DJQ_BROKER": "orm", "DJQ_WAL": "1", "DJQ_TXMODE": "IMMEDIATE"}
    for name in ("DJANGO_SETTINGS_MODULE", "TASKFLOW_DATA_DIR", "TASKFLOW_CONFIG"):
        env.pop(name, None)
    result = subprocess.run(
        [PEERS_PYTHON, "bench_djq.py", *args],
        cwd=PEERS / "djq",
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    print("  (peer failed)", result.stderr[-500:])
    return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def ratio(ours: float, theirs: float | None) -> str:
    if not theirs:
        return "n/a"
    return f"{ours / theirs:.2f}x"
