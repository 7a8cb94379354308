"""Manual trigger -> process started, against a real idle qcluster (1 worker): p50/p99.

"Started" is the time the job's own first command prints (`date +%s.%N`), minus the time
just before run_enqueue() was called. Beside it: django-q2's idle enqueue -> start latency
(bench_djq.py, ORM broker on SQLite WAL, same protocol: random gaps of 50-450 ms).

Usage: uv run python bench/engine_trigger_latency.py [--n 100] [--no-peers]
       [--config sqlite|sqlite+redis|postgres|postgres+redis]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _engine

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=100)
parser.add_argument("--no-peers", action="store_true")
parser.add_argument("--config", default="sqlite", choices=_engine.CONFIGS)
args = parser.parse_args()

_engine.setup(args.config)
from jobs.models import Job  # noqa: E402
from runs.models import Run  # noqa: E402
from runs.services import run_enqueue, run_log_lines  # noqa: E402

job = Job.objects.create(name="bench-latency", script="date +%s.%N", max_queued=1000)
cluster = _engine.start_cluster()
latencies = []
try:
    time.sleep(2)
    for _ in range(args.n):
        time.sleep(random.uniform(0.05, 0.45))
        before = time.time()
        run, _ = run_enqueue(job=job, trigger_type="manual")
        while Run.objects.filter(pk=run.pk, status__in=["pending", "running"]).exists():
            time.sleep(0.005)
        printed = [line.content for line in run_log_lines(run=run) if line.stream == "stdout"]
        latencies.append((float(printed[0]) - before) * 1000)
finally:
    _engine.stop_cluster(cluster)

p50 = _engine.percentile(latencies, 0.5)
p99 = _engine.percentile(latencies, 0.99)
print(
    f"engine trigger latency ({args.config}): manual trigger -> process started, "
    f"{args.n} idle triggers"
)
print(f"  TaskFlow          p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   max {max(latencies):7.1f} ms")
if not args.no_peers:
    peer = _engine.djq("--task", "shell", "--n", "50", "--idle", "40", "--tag", "taskflow-bench")
    if peer and "idle_lat_ms" in peer:
        idle = peer["idle_lat_ms"]
        print(
            f"  django-q2 (ORM)   p50 {idle['p50']:7.1f} ms   p95 {idle['p95']:7.1f} ms   "
            f"max {idle['max']:7.1f} ms   (TaskFlow p50 = "
            f"{_engine.ratio(p50, idle['p50'])} of django-q2's)"
        )
print("  target: p50 <= 20 ms, p99 <= 100 ms on an idle machine")
