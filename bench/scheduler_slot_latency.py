"""Scheduled slot -> process started, with a real qcluster (target p50 <= 250 ms, p99 <= 1 s).

A fresh SQLite database and data dir; a `* * * * *` job whose script prints bash's
$EPOCHREALTIME as its first act; a real `manage.py qcluster` (tick + executor) for --minutes.
Latency = the printed start time - the slot (run.scheduled_for). Then, when the peers venv is
there (../shared/peers/README.md), django-q2's scheduler lateness for the same minutes, from
djq/bench_sched.py in _engine.PEERS (run from a copy: intended minute -> task started).
Usage: uv run python bench/scheduler_slot_latency.py [--minutes 5] [--jobs 1] [--peer-minutes 3]
       [--config sqlite|sqlite+redis|postgres|postgres+redis] [--peer-python PYTHON]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _engine

ROOT = Path(__file__).resolve().parents[1]
TARGET_P50_MS, TARGET_P99_MS = 250, 1000


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> str:
    if not values_ms:
        return "no samples"
    return (
        f"n={len(values_ms)} p50 {statistics.median(values_ms):.0f} ms, "
        f"p99 {percentile(values_ms, 99):.0f} ms, max {max(values_ms):.0f} ms"
    )


def ours(minutes: float, jobs_count: int, config: str = "sqlite") -> list[float]:
    env = _engine.setup(config)
    data_dir = env["TASKFLOW_DATA_DIR"]
    from accounts.models import Role, User
    from jobs.services import job_create
    from runs.models import Run
    from runs.services import run_log_lines

    owner = User.objects.create_user(username="bench", password="x-bench-123", role=Role.ADMIN)
    jobs = [
        job_create(
            created_by=owner,
            name=f"slot-{index}",
            script='echo "start $EPOCHREALTIME"',
            schedule={"cron_expr": "* * * * *"},
        )
        for index in range(jobs_count)
    ]
    log = open(Path(data_dir) / "qcluster.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # skip the first boundary: the cluster may still be starting
        first = jobs[0].next_run_at.timestamp() + 60
        end = first + minutes * 60
        print(
            f"qcluster pid {proc.pid}; measuring the slots from "
            f"{datetime.fromtimestamp(first, UTC):%H:%M} for {minutes:g} min",
            flush=True,
        )
        while time.time() < end + 10:
            if proc.poll() is not None:
                raise SystemExit(f"qcluster exited: see {log.name}")
            time.sleep(1)
    finally:
        _engine.stop_processes([proc])
        log.close()

    latencies = []
    runs = Run.objects.filter(job__in=jobs, scheduled_for__gte=datetime.fromtimestamp(first, UTC))
    for run in runs.order_by("scheduled_for"):
        if run.scheduled_for.timestamp() > end:
            continue
        started = [
            float(line.content.split()[1])
            for line in run_log_lines(run=run)
            if line.content.startswith("start ")
        ]
        if not started:
            print(f"  slot {run.scheduled_for:%H:%M} {run.status}: no start line", flush=True)
            continue
        latency = (started[0] - run.scheduled_for.timestamp()) * 1000
        print(f"  slot {run.scheduled_for:%H:%M} started +{latency:.0f} ms ({run.trigger_type})")
        latencies.append(latency)
    return latencies


def peer(minutes: float, python: str) -> list[float] | None:
    script = _engine.PEERS / "djq" / "bench_sched.py"
    if not script.exists() or not Path(python).exists():
        print(f"peer skipped: need {script} and the peers venv ({python})")
        return None
    script = _engine.peers_dir() / "djq" / "bench_sched.py"  # it writes beside itself
    env = {key: value for key, value in os.environ.items() if not key.startswith("TASKFLOW_")}
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env["DJQ_WAL"] = "1"
    done = subprocess.run(
        [python, str(script), "--minutes", str(minutes), "--tag", "taskflow-bench"],
        cwd=script.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=minutes * 60 + 300,
    )
    try:
        result = json.loads(done.stdout[done.stdout.index("{") :])
    except ValueError:
        print("peer failed:", done.stdout[-500:], done.stderr[-500:])
        return None
    return [row["late_vs_intended_s"] * 1000 for row in result["runs"]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--peer-minutes", type=float, default=3)
    parser.add_argument("--config", default="sqlite", choices=_engine.CONFIGS)
    parser.add_argument("--peer-python", default=_engine.PEERS_PYTHON)
    args = parser.parse_args()

    latencies = ours(args.minutes, args.jobs, args.config)
    print(
        f"TaskFlow slot -> process started: {summary(latencies)} "
        f"(target p50 <= {TARGET_P50_MS} ms, p99 <= {TARGET_P99_MS} ms)",
        flush=True,
    )
    peer_latencies = peer(args.peer_minutes, args.peer_python) if args.peer_minutes else None
    if peer_latencies is not None:
        print(f"django-q2 scheduler, intended minute -> task started: {summary(peer_latencies)}")
        if latencies and peer_latencies:
            ratio = statistics.median(peer_latencies) / max(statistics.median(latencies), 1e-3)
            print(f"ratio (django-q2 p50 / TaskFlow p50): {ratio:.1f}x")
    if latencies:
        ok = (
            statistics.median(latencies) <= TARGET_P50_MS
            and percentile(latencies, 99) <= TARGET_P99_MS
        )
        print("PASS" if ok else "OVER TARGET")


if __name__ == "__main__":
    main()
