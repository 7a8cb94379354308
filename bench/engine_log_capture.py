"""`seq 1 2000000` through the real cluster: lines/s persisted (start of the run to its
final commit) and the worker's RSS growth. The log cap is raised so every line is stored.
Beside it: reading the same output in 64 KiB chunks with no storage (floor.py seq_chunks).

Usage: uv run python bench/engine_log_capture.py [--lines 2000000] [--no-peers]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _engine

parser = argparse.ArgumentParser()
parser.add_argument("--lines", type=int, default=2_000_000)
parser.add_argument("--no-peers", action="store_true")
args = parser.parse_args()

_engine.setup(TASKFLOW_LOG_MAX_BYTES=str(256 * 1024 * 1024))
import psutil  # noqa: E402

from jobs.models import Job  # noqa: E402
from runs.models import Run, WorkerHeartbeat  # noqa: E402
from runs.services import run_enqueue, run_log_lines  # noqa: E402

job = Job.objects.create(name="bench-seq", script=f"seq 1 {args.lines}")
cluster = _engine.start_cluster()
try:
    time.sleep(2)
    beat = WorkerHeartbeat.objects.filter(role="worker", retired_at=None).first()
    worker = psutil.Process(beat.pid)
    rss_before = worker.memory_info().rss
    peak = rss_before
    enqueued_at = time.monotonic()
    run, _ = run_enqueue(job=job, trigger_type="manual")
    while Run.objects.filter(pk=run.pk, status__in=["pending", "running"]).exists():
        peak = max(peak, worker.memory_info().rss)
        time.sleep(0.05)
    observed = time.monotonic() - enqueued_at  # trigger to "finished" seen by a reader
    rss_after = worker.memory_info().rss
finally:
    _engine.stop_cluster(cluster)

run.refresh_from_db()
stored = run.log_lines
last = run_log_lines(run=run, after=stored - 4, limit=10)
stdout_last = [line.content for line in last if line.stream == "stdout"][-1]
seconds = (run.finished_at - run.started_at).total_seconds()
ours = args.lines / seconds
print(f"engine log capture: seq 1 {args.lines}, 1 worker, SQLite WAL")
print(
    f"  TaskFlow persisted      {ours:12.0f} lines/s  ({stored} lines stored, last stdout "
    f"{stdout_last!r}, {run.status}; from the run's start to its end)"
)
print(
    f"  TaskFlow end to end     {args.lines / observed:12.0f} lines/s  (from the trigger to "
    "the final status committed, as a reader saw it)"
)
print(
    f"  worker RSS growth       {(peak - rss_before) / 2**20:8.1f} MB peak, "
    f"{(rss_after - rss_before) / 2**20:.1f} MB after"
)
if not args.no_peers:
    floor = _engine.floor_module()
    rate = _engine.median([floor.seq_chunks() for _ in range(3)])
    print(
        f"  floor: 64 KiB reads, no storage {rate:8.0f} lines/s  "
        f"(TaskFlow = {_engine.ratio(ours, rate)} of the floor)"
    )
print("  target: >= 500k lines/s persisted, RSS growth <= 100 MB")
