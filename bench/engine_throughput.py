"""Sequential `true` runs through the real cluster, every run and line committed: runs/s on
SQLite, SQLite + Redis, PostgreSQL and PostgreSQL + Redis with 1, 2 and 4 workers, beside
Celery + Redis (bench_celery.py: `bash -c true` tasks, one process, concurrency 1) and the
floor (`bash -c true` spawn+reap in a loop, floor.py), measured in the same run.

Each configuration runs in a process of its own on a fresh database (PostgreSQL: a database
created for it and dropped after), right after the two peers are measured again: each row's
ratios are against the peers measured next to it (a machine whose load drifts moves both).
Per configuration: runs/s from the first start to the last finish; CPU per run of TaskFlow's
processes (the cluster, its drains and the runs they reaped) and of the database server's
backends from the enqueue's commit on (PostgreSQL: the claims and finishes); WAL per run:
on SQLite the frames a pass of --wal-runs runs appends while a reader holds the log (so no
checkpoint can recycle it), on PostgreSQL the pg_current_wal_lsn() distance over the burst
(the server's whole log: other databases' writes count too, so read it on a quiet machine).

Usage: uv run python bench/engine_throughput.py [--n 2000] [--configs sqlite,postgres,...]
       [--workers 1,2,4] [--no-peers]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _engine

JOBS = 4  # the runs go round-robin to this many jobs (default overlap policy: queue)
TARGETS = (
    "targets (issue 14): SQLite 1 worker >= 430 runs/s and >= 1.1x Celery + Redis; "
    "SQLite + Redis >= 0.9x SQLite; PostgreSQL (+ Redis) >= 250 runs/s with 1 worker"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--configs", default=",".join(_engine.CONFIGS))
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--wal-runs", type=int, default=300)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one configuration
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, int(args.workers), args.n, args.wal_runs)))
        return
    configs = args.configs.split(",")
    workers = [int(count) for count in args.workers.split(",")]
    print(
        f"engine throughput: {args.n} sequential `true` runs per configuration "
        f"({JOBS} jobs, default overlap policy), every run and line committed",
        flush=True,
    )
    print(HEADER, flush=True)
    results = []
    for config in configs:
        for count in workers:
            celery, floor = peers(args) if not args.no_peers else (None, None)
            result = one(config, count, args)
            if result is not None:
                result.update(celery=celery, floor=floor)
                results.append(result)
                print(row(result), flush=True)
    report(results)


def peers(args) -> tuple[float | None, float]:
    """Celery + Redis and the floor, measured now (runs/s)."""
    floor = _engine.floor_rate()
    result = _engine.celery(n=args.n)
    return (result or {}).get("exec_rate"), floor


def one(config: str, workers: int, args) -> dict | None:
    command = [sys.executable, __file__, "--one", config, "--workers", str(workers)]
    command += ["--n", str(args.n), "--wal-runs", str(args.wal_runs)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=_engine.ROOT)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    print(f"  {config} x{workers}: failed\n{done.stdout[-800:]}{done.stderr[-1500:]}")
    return None


HEADER = (
    f"  {'configuration':16s} {'workers':>7s} {'runs/s':>8s} {'Celery':>7s} {'ratio':>6s} "
    f"{'floor':>6s} {'ratio':>6s} {'CPU ms/run':>10s} {'db CPU':>7s}  WAL per run"
)


def row(result: dict) -> str:
    celery, floor = result.get("celery"), result.get("floor")
    db_cpu = result.get("db_cpu_ms_per_run")
    return (
        f"  {result['config']:16s} {result['workers']:7d} {result['rate']:8.1f} "
        f"{celery or 0:7.0f} {_engine.ratio(result['rate'], celery):>6s} "
        f"{floor or 0:6.0f} {_engine.ratio(result['rate'], floor):>6s} "
        f"{result['cpu_ms_per_run']:10.2f} {'' if db_cpu is None else f'{db_cpu:.2f}':>7s}  "
        f"{result.get('wal', '')}"
    )


def report(results: list[dict]) -> None:
    print("  (Celery + Redis: bash -c true tasks, one process, concurrency 1; floor: bash -c true")
    print("   spawned and reaped in a loop; both measured just before the row, runs/s)")
    by = {(r["config"], r["workers"]): r["rate"] for r in results}
    for redis, plain in (("sqlite+redis", "sqlite"), ("postgres+redis", "postgres")):
        if (redis, 1) in by and (plain, 1) in by:
            print(f"  {redis} / {plain} (1 worker): {by[(redis, 1)] / by[(plain, 1)]:.2f}x")
    print(f"  {TARGETS}")


# ---- one configuration, in a process of its own ----


def measure(config: str, workers: int, n: int, wal_runs: int) -> dict:
    _engine.setup(config)
    from django.db import connection
    from django.db.models import Max, Min

    from jobs.models import Job
    from runs.models import LogChunk, Run

    jobs = [
        Job.objects.create(name=f"bench-true-{index}", script="true", max_queued=n + wal_runs)
        for index in range(JOBS)
    ]
    cluster = _engine.start_cluster(workers)
    try:
        time.sleep(1)
        cpu_before, lsn_before = cpu_ms(cluster.pid), wal_lsn()
        enqueue(jobs, n)
        db_before = db_cpu_ms()  # the runs' statements, not the enqueue's
        wait_idle(Run)
        cpu_after, db_after, lsn_after = cpu_ms(cluster.pid), db_cpu_ms(), wal_lsn()
        span = Run.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
        result = {
            "config": config,
            "workers": workers,
            "n": n,
            "rate": n / (span["last"] - span["first"]).total_seconds(),
            "succeeded": Run.objects.filter(status="success").count(),
            "chunks": LogChunk.objects.count(),
            "cpu_ms_per_run": (cpu_after - cpu_before) / n,
        }
        if db_before is not None:
            result["db_cpu_ms_per_run"] = (db_after - db_before) / n
        if lsn_before is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_wal_lsn_diff(%s, %s)", [lsn_after, lsn_before])
                size = float(cursor.fetchone()[0]) / n
            result["wal"] = f"{size / 1024:.1f} KiB (server-wide LSN distance)"
        elif connection.vendor == "sqlite" and wal_runs:
            frames, page = sqlite_wal_frames(lambda: (enqueue(jobs, wal_runs), wait_idle(Run)))
            result["wal"] = (
                f"{frames / wal_runs:.1f} pages ({frames * (page + 24) / wal_runs / 1024:.0f} KiB)"
            )
    finally:
        _engine.stop_cluster(cluster)
    return result


def enqueue(jobs, n: int) -> None:
    from django.db import transaction

    from runs.services import run_enqueue

    with transaction.atomic():  # the drains are woken once, on commit
        for index in range(n):
            run_enqueue(job=jobs[index % len(jobs)], trigger_type="manual")


def wait_idle(Run) -> None:
    while Run.objects.filter(status__in=["pending", "running"]).exists():
        time.sleep(0.1)


def cpu_ms(pid: int) -> float:
    """CPU time of the process tree at `pid` (with what each reaped: the runs), ms."""
    import psutil

    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total * 1000


def db_cpu_ms() -> float | None:
    """CPU time of the PostgreSQL backends serving this database, ms (None on SQLite)."""
    import psutil
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    name = connection.settings_dict["NAME"]
    total = 0.0
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(f" {name} " in f" {part} " for part in proc.info["cmdline"] or []):
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total * 1000


def wal_lsn() -> str | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return cursor.fetchone()[0]


def sqlite_wal_frames(work) -> tuple[int, int]:
    """WAL frames appended while `work` runs: the log is emptied first (TRUNCATE checkpoint),
    then a reader holds it so that no checkpoint can recycle it meanwhile."""
    import sqlite3

    from django.conf import settings

    path = settings.DATABASES["default"]["NAME"]
    reader = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        page = reader.execute("PRAGMA page_size").fetchone()[0]
        for _ in range(100):  # busy while a drain writes its heartbeat: try again
            if not reader.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
                break
            time.sleep(0.05)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM runs_run").fetchone()
        work()
        size = os.path.getsize(path + "-wal")
        reader.execute("COMMIT")
    finally:
        reader.close()
    return max(0, size - 32) // (page + 24), page


if __name__ == "__main__":
    main()
