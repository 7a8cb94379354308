"""Retention of 1M old log lines: how long it takes, and the API's latency meanwhile (D5).

Scratch SQLite database: old finished runs holding --lines log lines (in chunks of
--chunk-lines), recent runs and one old *running* run that must survive; a real daphne serves
the API while `manage.py pruneruns` runs; a client mix of reads (GET /api/runs) and writes
(POST /api/jobs) measures latency before and during the cleanup. The first pass is killed
with SIGKILL part-way (--kill-after) and a second pass must finish the job.
Usage: uv run python bench/retention_cost.py [--lines 1000000] [--chunk-lines 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _engine

ROOT = Path(__file__).resolve().parents[1]
USERS = 50  # the API throttles 100 requests/min per user; spread the load


def seed(total_lines: int, chunk_lines: int) -> dict:
    """Old runs with total_lines lines, 200 recent runs, one old running run. Raw executemany:
    the point is the cleanup, not the seeding."""
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Role
    from accounts.services import token_pair_for, user_create
    from jobs.models import Job
    from runs.models import LogChunk, Run, RunStatus

    admin = user_create(username="bench", password="bench-password-123", role=Role.ADMIN)
    job = Job.objects.create(name="noisy", script="true", created_by=admin)
    now = timezone.now()
    old_at = now - timedelta(days=60)
    lines_per_run = 1000
    old_runs = max(1, total_lines // lines_per_run)
    line_text = "x" * 60

    def make_runs(count, status, at):
        runs = Run.objects.bulk_create(
            Run(
                job=job,
                status=status,
                trigger_type="manual",
                available_at=at,
                started_at=at,
                finished_at=at if status != RunStatus.RUNNING else None,
                duration_ms=1000,
                spec={"kind": "shell", "script": "true"},
            )
            for _ in range(count)
        )
        Run.objects.filter(pk__in=[run.pk for run in runs]).update(created_at=at)
        return runs

    old = make_runs(old_runs, RunStatus.SUCCESS, old_at)
    recent = make_runs(200, RunStatus.SUCCESS, now - timedelta(days=1))
    running = make_runs(1, RunStatus.RUNNING, old_at)

    table = LogChunk._meta.db_table
    sample_table = "metrics_metricsample"
    record = "\n".join(f"o0\t{line_text}" for _ in range(chunk_lines))
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        for run in [*old, *recent[:20], *running]:
            rows = [
                (run.pk.hex, first, first + chunk_lines - 1, old_at, record)
                for first in range(1, lines_per_run + 1, chunk_lines)
            ]
            cursor.executemany(
                f"INSERT INTO {table} (run_id, first_line, last_line, created_at, data) "
                "VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
            cursor.executemany(
                f"INSERT INTO {sample_table} (run_id, timestamp, cpu_percent, memory_bytes, "
                "memory_percent) VALUES (%s, %s, %s, %s, %s)",
                [(run.pk.hex, old_at, 50.0, 1000, 1.0) for _ in range(30)],
            )
    print(
        f"seeded {old_runs} old runs x {lines_per_run} lines "
        f"({old_runs * lines_per_run // chunk_lines} chunk rows) in "
        f"{time.monotonic() - started:.1f} s"
    )
    users = [admin] + [
        user_create(username=f"reader{n}", password="bench-password-123", role=Role.ADMIN)
        for n in range(USERS - 1)
    ]
    return {
        "tokens": [token_pair_for(user)["access"] for user in users],
        "recent": {run.pk for run in recent},
        "running": running[0].pk,
    }


class Load(threading.Thread):
    """`clients` concurrent API clients, each: a request, then `think` seconds; records
    (phase, seconds, status). Closed loop, so a slow server shows as latency, not a backlog."""

    def __init__(self, port: int, tokens: list[str], clients: int, think: float):
        super().__init__(daemon=True)
        self.port, self.tokens, self.clients, self.think = port, tokens, clients, think
        self.phase = "warm-up"
        self.results: list[tuple[str, float, int]] = []
        self.stop = threading.Event()

    def run(self):
        asyncio.run(self.main())

    async def main(self):
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=30) as cl:
            await asyncio.gather(*(self.client(cl, index) for index in range(self.clients)))

    async def client(self, client, index: int):
        count = index
        while not self.stop.is_set():
            token = self.tokens[count % len(self.tokens)]
            await self.one(client, token, count % 4 == 0, count)
            count += self.clients
            await asyncio.sleep(self.think)

    async def one(self, client, token, write, count):
        headers = {"Authorization": f"Bearer {token}"}
        phase = self.phase
        started = time.perf_counter()
        if write:
            body = {"name": f"bench-{count}-{uuid.uuid4().hex[:6]}", "script": "true"}
            response = await client.post("/api/jobs", json=body, headers=headers)
        else:
            response = await client.get("/api/runs", headers=headers)
        self.results.append((phase, time.perf_counter() - started, response.status_code))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--chunk-lines", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4, help="concurrent API clients")
    parser.add_argument("--baseline", type=float, default=15, help="seconds of load before")
    parser.add_argument("--think", type=float, default=0.1, help="seconds between requests")
    args = parser.parse_args()

    env = _engine.setup("sqlite")
    from metrics.counters import counters_fold, counters_totals
    from runs.models import LogChunk, Run

    seeded = seed(args.lines, args.chunk_lines)
    port = _engine.free_port()
    daphne = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("daphne")),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "taskflow_site.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if time.monotonic() > deadline:
                raise SystemExit("daphne did not start")
            time.sleep(0.1)
        load = Load(port, seeded["tokens"], args.clients, args.think)
        load.phase = "warm-up"  # daphne's first requests (imports, thread pool) are slow
        load.start()
        time.sleep(5)
        load.phase = "before"
        time.sleep(args.baseline)

        counters_fold()  # the cluster folds finished runs every 30 s: the runs are in
        counted = counters_totals()
        load.phase = "during"
        started = time.monotonic()
        first = subprocess.Popen(
            [sys.executable, "manage.py", "pruneruns"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        initial = LogChunk.objects.count()
        killed = False
        while first.poll() is None:  # SIGKILL once a third of the rows are gone (D5)
            if LogChunk.objects.count() <= initial * 2 / 3:
                first.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.05)
        first.wait()
        left_after_kill = LogChunk.objects.count()
        second = subprocess.run(
            [sys.executable, "manage.py", "pruneruns"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.monotonic() - started
        load.phase = "after"
        time.sleep(3)
        load.stop.set()
        load.join(60)
    finally:
        os.killpg(daphne.pid, signal.SIGTERM)
        daphne.wait(20)

    remaining = set(Run.objects.values_list("pk", flat=True))
    counters_fold(recheck=True)
    kept = counters_totals() == counted
    print(
        f"pruneruns: {args.lines:,} old lines gone in {elapsed:.1f} s "
        f"({args.lines / elapsed:,.0f} lines/s); first pass "
        f"{'killed with SIGKILL' if killed else 'finished'} "
        f"with {left_after_kill:,} chunk rows left; second pass: {second.stdout.strip()}"
    )
    print(
        f"survivors: recent runs kept {len(seeded['recent'] & remaining)}/200, old running run "
        f"kept: {seeded['running'] in remaining}, old chunk rows left: "
        f"{LogChunk.objects.exclude(run_id__in=[*seeded['recent'], seeded['running']]).count()}"
    )
    print(
        f"/metrics counters after retention: {'unchanged' if kept else 'CHANGED'} "
        f"({counted['success']:,} runs finished with success, never lowered)"
    )
    print(
        f"API: {args.clients} clients, 1 in 4 requests a write (POST /api/jobs), else GET /api/runs"
    )
    print(f"{'phase':8} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} non-2xx")
    for phase in ("warm-up", "before", "during", "after"):
        rows = [r for r in load.results if r[0] == phase]
        ms = [seconds * 1000 for _, seconds, _ in rows]
        bad = sum(1 for _, _, code in rows if code >= 300)
        if ms:
            p95, p99 = _engine.percentile(ms, 0.95), _engine.percentile(ms, 0.99)
            print(
                f"{phase:8} {len(ms):5d} {statistics.median(ms):8.1f} {p95:8.1f} "
                f"{p99:8.1f} {max(ms):8.1f} {bad}"
            )
    print("target (D5): API p99 < 500 ms during the cleanup")


if __name__ == "__main__":
    main()
