"""2,000 sequential `true` runs through the real cluster (1 worker), every run and line
committed: runs/s. Beside it: `bash -c true` spawn+reap in a loop (floor.py) and django-q2's
drain rate for shell tasks (bench_djq.py --prefill).

Usage: uv run python bench/engine_throughput.py [--n 2000] [--no-peers]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _engine

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=2000)
parser.add_argument("--no-peers", action="store_true")
args = parser.parse_args()

_engine.setup()
from django.db import transaction  # noqa: E402
from django.db.models import Max, Min  # noqa: E402

from jobs.models import Job  # noqa: E402
from runs.models import LogChunk, Run  # noqa: E402
from runs.services import run_enqueue  # noqa: E402

job = Job.objects.create(name="bench-true", script="true", max_queued=args.n + 10)
cluster = _engine.start_cluster()
try:
    time.sleep(1)
    started = time.perf_counter()
    with transaction.atomic():  # the drain is woken once, on commit
        for _ in range(args.n):
            run_enqueue(job=job, trigger_type="manual")
    enqueued = time.perf_counter()
    while Run.objects.filter(status__in=["pending", "running"]).exists():
        time.sleep(0.2)
    span = Run.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
finally:
    _engine.stop_cluster(cluster)

succeeded = Run.objects.filter(status="success").count()
chunks = LogChunk.objects.count()
seconds = (span["last"] - span["first"]).total_seconds()
ours = args.n / seconds
print(f"engine throughput: {args.n} sequential `true` runs, 1 worker, SQLite WAL")
print(f"  enqueue (one transaction)       {args.n / (enqueued - started):10.0f} runs/s")
print(
    f"  TaskFlow drain                  {ours:10.1f} runs/s  ({succeeded} success, "
    f"{chunks} log chunks committed)"
)
if not args.no_peers:
    floor = _engine.floor_module()
    trials = [floor.trial_bash_true_popen_wait() for _ in range(3)]
    floor_rate = floor.N_SPAWN / _engine.median(trials)
    print(
        f"  floor: bash -c true spawn+reap  {floor_rate:10.1f} runs/s  "
        f"(TaskFlow = {_engine.ratio(ours, floor_rate)} of the floor)"
    )
    peer = _engine.djq("--task", "shell", "--n", "500", "--prefill", "--tag", "taskflow-bench")
    if peer and "drain_throughput_per_s" in peer:
        rate = peer["drain_throughput_per_s"]
        print(
            f"  django-q2 (ORM, WAL) shell task {rate:10.1f} runs/s  "
            f"(TaskFlow = {_engine.ratio(ours, rate)})"
        )
print("  target: >= 430 runs/s on an idle machine")
