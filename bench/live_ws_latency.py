"""print -> WebSocket client latency, without Redis (database polling) and with Redis (push).

Starts a real daphne and a real qcluster on a scratch SQLite database; a job prints its own
clock every 50 ms; a `websockets` client on /api/runs/<id>/logs/live measures receive - print.
Usage: uv run python bench/live_ws_latency.py [--lines 200] [--runs 3] [--redis redis://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _engine

ROOT = Path(__file__).resolve().parents[1]
TARGET_P95_MS = {"no redis": 300, "redis": 50}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def measure(mode: str, redis_url: str | None, lines: int, runs: int) -> list[float]:
    """One deployment (fresh data dir, daphne + qcluster); returns latencies in ms."""
    env = _engine.setup(**({"REDIS_URL": redis_url} if redis_url else {}))
    data_dir = env["TASKFLOW_DATA_DIR"]
    from accounts.models import Role
    from accounts.services import user_create
    from accounts.tickets import ticket_issue
    from jobs.models import Job
    from runs.models import WorkerHeartbeat
    from runs.services import run_enqueue

    user = user_create(username="bench", password="bench-password-123", role=Role.ADMIN)
    script = (
        "python3 -c 'import time\n"
        f"for i in range({lines}):\n"
        '    print("ts", time.time(), flush=True)\n'
        "    time.sleep(0.05)'"
    )
    job = Job.objects.create(name="latency", script=script, created_by=user, working_dir="/tmp")

    port = free_port()
    logs = Path(data_dir)
    daphne_bin = str(Path(sys.executable).with_name("daphne"))
    procs = [
        subprocess.Popen(
            [daphne_bin, "-b", "127.0.0.1", "-p", str(port), "taskflow_site.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=open(logs / "daphne.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=open(logs / "qcluster.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    latencies: list[float] = []
    try:
        wait_until(
            lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 60, "daphne's port"
        )
        wait_until(lambda: WorkerHeartbeat.objects.filter(role="cluster").exists(), 60, "cluster")
        for _ in range(runs):
            run, _ = run_enqueue(job=job, trigger_type="manual")
            ticket, _ = ticket_issue(user=user)
            url = f"ws://127.0.0.1:{port}/api/runs/{run.id}/logs/live?ticket={ticket}"
            latencies.extend(asyncio.run(follow(url, f"http://127.0.0.1:{port}")))
    finally:
        # SIGTERM to each main process only, so qcluster stops its django-q2 children in
        # order (a group-wide TERM orphans them); then nothing of either group may remain.
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return latencies


async def follow(url: str, origin: str) -> list[float]:
    import websockets
    from websockets.asyncio.client import connect

    found = []
    async with connect(url, origin=origin) as ws:
        try:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 120))
                received = time.time()
                lines = message["lines"] if message["type"] == "log_batch" else [message]
                for line in lines:
                    content = line.get("content", "")
                    if content.startswith("ts "):
                        found.append((received - float(content.split()[1])) * 1000)
        except websockets.ConnectionClosed:
            pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--mode", choices=["no redis", "redis"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # child: one deployment, prints JSON
        redis_url = args.redis if args.mode == "redis" else None
        print(json.dumps(measure(args.mode, redis_url, args.lines, args.runs)))
        return
    print(f"print -> WebSocket latency, {args.runs} runs x {args.lines} lines, 1 worker, SQLite")
    print(f"{'mode':10} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} target")
    for mode in ("no redis", "redis"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--mode",
                mode,
                "--lines",
                str(args.lines),
                "--runs",
                str(args.runs),
                "--redis",
                args.redis,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"{mode:10} failed: {out.stderr.strip()[-500:]}")
            continue
        values = json.loads(out.stdout.strip().splitlines()[-1])
        if not values:
            print(f"{mode:10} no lines received")
            continue
        print(
            f"{mode:10} {len(values):5d} {statistics.median(values):8.1f} "
            f"{percentile(values, 95):8.1f} {percentile(values, 99):8.1f} {max(values):8.1f} "
            f"p95 <= {TARGET_P95_MS[mode]} ms"
        )
    print("(no peer figure: django-q2 and Celery have no live log stream)")


if __name__ == "__main__":
    main()
