"""Line written -> WebSocket viewer received, for 1, 10 and 100 viewers of one busy run, and
daphne's CPU meanwhile; without Redis (the shared follower polls) and with Redis (a nudge).

Each configuration is a fresh deployment (data dir, SQLite, real daphne + qcluster, in a child
process of this script). Per viewer count a new run of a job that, once the viewers are in,
prints its own clock every --interval seconds for --seconds; `websockets` clients (`?batch=1`,
as the UI) take receive - print per line. Targets (issue 14): p95 <= 300 ms without Redis,
<= 100 ms with it, daphne under half a core, at 100 viewers.
Usage: uv run python bench/live_ws_latency.py [--viewers 1,10,100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _engine

ROOT = Path(__file__).resolve().parents[1]
TARGET_P95_MS = {"sqlite": 300, "sqlite+redis": 100}
TARGET_CPU = 0.5
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def measure(config: str, counts: list[int], seconds: float, interval: float) -> list[dict]:
    """One deployment; per viewer count: latencies (ms) and daphne's CPU share."""
    env = _engine.setup(config)
    data_dir = Path(env["TASKFLOW_DATA_DIR"])
    from accounts.models import Role
    from accounts.services import user_create
    from accounts.tickets import ticket_issue
    from jobs.models import Job
    from runs.services import run_enqueue

    user = user_create(username="bench", password="bench-password-123", role=Role.ADMIN)
    go = data_dir / "go"
    lines = int(seconds / interval)
    script = (
        f"while [ ! -e {go} ]; do sleep 0.02; done\n"
        "exec python3 -c 'import time\n"
        f"for i in range({lines}):\n"
        '    print("ts", time.time(), flush=True)\n'
        f"    time.sleep({interval})'"
    )
    job = Job.objects.create(
        name="busy", script=script, created_by=user, working_dir="/tmp", timeout_seconds=600
    )
    procs, port = _engine.start_web_and_cluster()
    results = []
    try:
        for count in counts:
            go.unlink(missing_ok=True)
            run, _ = run_enqueue(job=job, trigger_type="manual")
            urls = []
            for _ in range(count):
                ticket, _ = ticket_issue(user=user)
                urls.append(
                    f"ws://127.0.0.1:{port}/api/runs/{run.id}/logs/live?batch=1&ticket={ticket}"
                )
            latencies, cpu, wall, own = asyncio.run(
                viewers(urls, f"http://127.0.0.1:{port}", go, procs[0].pid)
            )
            results.append(
                {"viewers": count, "latencies": latencies, "cpu": cpu / wall, "own": own / wall}
            )
    finally:
        _engine.stop_processes(procs, timeout=20)
    return results


async def viewers(urls: list[str], origin: str, go: Path, daphne_pid: int):
    """Connect every viewer, start the job's output, follow to the end; (latencies, daphne CPU
    seconds, wall seconds) over the printing."""
    from websockets.asyncio.client import connect

    sockets = [await connect(url, origin=origin, max_size=None) for url in urls]
    await asyncio.sleep(1.0)  # replay done, every viewer following
    cpu0, wall0, own0 = cpu_seconds(daphne_pid), time.monotonic(), time.process_time()
    go.touch()
    found = await asyncio.gather(*(follow(ws) for ws in sockets))
    cpu1, wall1, own1 = cpu_seconds(daphne_pid), time.monotonic(), time.process_time()
    latencies = [value for values in found for value in values]
    return latencies, cpu1 - cpu0, wall1 - wall0, own1 - own0


async def follow(ws) -> list[float]:
    import websockets

    found = []
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
    parser.add_argument("--viewers", default="1,10,100")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the run prints")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between lines")
    parser.add_argument("--configs", default=",".join(TARGET_P95_MS))
    parser.add_argument("--config", help=argparse.SUPPRESS)  # child: one deployment
    args = parser.parse_args()
    counts = [int(x) for x in args.viewers.split(",")]
    if args.config:
        print(json.dumps(measure(args.config, counts, args.seconds, args.interval)))
        return
    print(
        f"line written -> viewer received, one run printing a line every {args.interval:g} s "
        f"for {args.seconds:g} s; 1 worker, SQLite, daphne"
    )
    print(
        f"{'config':13} {'viewers':>7} {'n':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'daphne CPU':>10} {'clients CPU':>11}  target"
    )
    for config in args.configs.split(","):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--config",
                config,
                "--viewers",
                args.viewers,
                "--seconds",
                str(args.seconds),
                "--interval",
                str(args.interval),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"{config:13} failed: {out.stderr.strip()[-800:]}")
            continue
        for result in json.loads(out.stdout.strip().splitlines()[-1]):
            values = result["latencies"]
            if not values:
                print(f"{config:13} {result['viewers']:7d} no lines received")
                continue
            print(
                f"{config:13} {result['viewers']:7d} {len(values):7d} "
                f"{_engine.percentile(values, 0.5):8.1f} {_engine.percentile(values, 0.95):8.1f} "
                f"{_engine.percentile(values, 0.99):8.1f} {result['cpu'] * 100:9.0f}% "
                f"{result['own'] * 100:10.0f}%  "
                f"p95 <= {TARGET_P95_MS[config]} ms, CPU < {TARGET_CPU * 100:.0f}%"
            )
    print("(no peer figure: django-q2 and Celery have no live log stream)")


if __name__ == "__main__":
    main()
