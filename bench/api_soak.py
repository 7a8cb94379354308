"""Soak (SCENARIOS D1): 20 API clients doing CRUD and reading logs, the tick firing 50 jobs a
minute, one job streaming 50 lines/s, for --minutes (default 10) on the SQLite file; then log
pages of a long log, at a table of --lines lines (default 10M) with runs of 1M lines.

Prints API p50/p95/p99 (target p99 <= 500 ms), 5xx and "database is locked" counts, and rows
per line of the streaming job (issue 14: chunks stay large when lines trickle); then the p95 of
a 1,000-line page (the API's read and encoding) from the start, the middle and the end of a
1M-line run stored one row per line (how a trickle was stored before issue 14) and one stored
in 100-line rows, beside the read the API made before issue 14 (ordered by first_line after
filtering on last_line).
Usage: uv run python bench/api_soak.py [--minutes 10] [--clients 20] [--lines 10000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _engine

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 500
TARGET_PAGE_P95_MS = 50
CLIENT_PAUSE = 0.7  # seconds between one client's requests: under the 100/min user throttle
STREAM = {"tail": 0}  # the streaming run's last line, as the clients last saw it


def soak(args) -> None:
    from accounts.apitokens import api_token_create
    from accounts.models import Role
    from accounts.services import user_create
    from jobs.services import job_create
    from runs.models import LogChunk, Run
    from runs.services import run_enqueue

    admin = user_create(username="soak", password="soak-password-123", role=Role.ADMIN)
    for n in range(args.jobs_per_minute):
        job_create(
            created_by=admin,
            name=f"tick-{n}",
            script="echo tick",
            schedule={"cron_expr": "* * * * *"},
        )
    seconds = args.minutes * 60
    stream_job = job_create(
        created_by=admin,
        name="stream",
        timeout_seconds=int(seconds) + 600,
        script=(
            "exec python3 -c 'import time\n"
            f"for i in range({int((seconds + 30) * 50)}):\n"
            '    print("stream line", i, flush=True)\n'
            "    time.sleep(0.02)'"
        ),
    )
    tokens = []
    for n in range(args.clients):
        user = user_create(username=f"client{n}", password="soak-password-123", role=Role.ADMIN)
        tokens.append(api_token_create(user=user, name="soak")[1])

    data_dir = Path(os.environ["TASKFLOW_DATA_DIR"])
    procs, port = _engine.start_web_and_cluster(args.workers)
    try:
        stream, _ = run_enqueue(job=stream_job, trigger_type="manual")
        _engine.wait_until(lambda: Run.objects.get(pk=stream.pk).log_lines > 50, 60, "the stream")
        results = asyncio.run(clients(f"http://127.0.0.1:{port}", tokens, stream.pk, seconds))
        stream.refresh_from_db()
        lines, rows = stream.log_lines, LogChunk.objects.filter(run=stream).count()
        fired = Run.objects.filter(job__name__startswith="tick-").count()
    finally:
        _engine.stop_processes(procs, timeout=30)
    locked = sum(
        (data_dir / name).read_text(errors="replace").count("database is locked")
        for name in ("daphne.log", "qcluster.log")
    )
    report(results, locked=locked)
    print(
        f"streaming job: {lines} lines in {rows} chunk rows = {rows / max(lines, 1):.4f} rows "
        f"per line (one row per line before issue 14); tick runs: {fired}"
    )


async def clients(base: str, tokens: list[str], stream_id, seconds: float) -> list[tuple]:
    import httpx

    deadline = time.monotonic() + seconds
    results: list[tuple] = []  # (kind, ms, status, locked)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        await asyncio.gather(
            *(
                client(http, token, stream_id, deadline, results, n)
                for n, token in enumerate(tokens)
            )
        )
    return results


async def client(http, token: str, stream_id, deadline: float, results: list, n: int) -> None:
    rng = random.Random(n)
    headers = {"Authorization": f"Bearer {token}", "Origin": str(http.base_url).rstrip("/")}
    mine: list[str] = []
    await asyncio.sleep(rng.random() * CLIENT_PAUSE)
    while time.monotonic() < deadline:
        kind, method, path, body = pick(rng, mine, stream_id, n)
        started = time.perf_counter()
        try:
            response = await http.request(method, path, headers=headers, json=body)
            status, text = response.status_code, response.text
        except Exception as exc:  # a refused or dropped connection counts as an error
            status, text = 599, str(exc)
        ms = (time.perf_counter() - started) * 1000
        results.append((kind, ms, status, "database is locked" in text))
        if kind == "create job" and status == 201:
            mine.append(json.loads(text)["data"]["id"])
        if kind == "log tail" and status == 200:
            STREAM["tail"] = json.loads(text)["data"]["nextAfter"]
        await asyncio.sleep(CLIENT_PAUSE)


def pick(rng: random.Random, mine: list[str], stream_id, n: int) -> tuple:
    roll = rng.random()
    logs = f"/api/runs/{stream_id}/logs"
    if roll < 0.15:
        return "log page", "GET", f"{logs}?after={rng.randint(0, STREAM['tail'])}&limit=1000", None
    if roll < 0.25:
        return "log start", "GET", f"{logs}?after=0&limit=1000", None
    if roll < 0.35:
        return "log tail", "GET", f"{logs}?after={max(0, STREAM['tail'] - 200)}&limit=1000", None
    if roll < 0.5:
        return "run list", "GET", "/api/runs?limit=50", None
    if roll < 0.6:
        return "job list", "GET", "/api/jobs?limit=50", None
    if roll < 0.65:
        return "stats", "GET", "/api/dashboard/stats", None
    if roll < 0.7:
        return "run detail", "GET", f"/api/runs/{stream_id}", None
    if roll < 0.8 or not mine:
        body = {"name": f"c{n}-{rng.getrandbits(40):x}", "script": "echo hi"}
        return "create job", "POST", "/api/jobs", body
    if roll < 0.9:
        body = {"name": f"c{n}-{rng.getrandbits(40):x}", "description": "edited"}
        return "update job", "PUT", f"/api/jobs/{rng.choice(mine)}", body
    return "delete job", "DELETE", f"/api/jobs/{mine.pop(rng.randrange(len(mine)))}", None


def report(results: list[tuple], *, locked: int) -> None:
    values = [ms for _, ms, status, _ in results if status != 429]
    errors = sum(1 for _, _, status, _ in results if status >= 500)
    throttled = sum(1 for _, _, status, _ in results if status == 429)
    locked += sum(1 for *_, is_locked in results if is_locked)
    p99 = _engine.percentile(values, 0.99)
    print(
        f"API: {len(results)} requests, p50 {_engine.percentile(values, 0.5):.1f} ms, "
        f"p95 {_engine.percentile(values, 0.95):.1f} ms, p99 {p99:.1f} ms "
        f"(target p99 <= {TARGET_P99_MS} ms: {'met' if p99 <= TARGET_P99_MS else 'MISSED'}); "
        f"5xx {errors}, 429 {throttled}, 'database is locked' {locked}"
    )
    print(f"  {'request':12} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind in sorted({kind for kind, *_ in results}):
        mine = [ms for k, ms, status, _ in results if k == kind and status != 429]
        if mine:
            print(
                f"  {kind:12} {len(mine):6d} {_engine.percentile(mine, 0.5):8.1f} "
                f"{_engine.percentile(mine, 0.95):8.1f} {_engine.percentile(mine, 0.99):8.1f}"
            )


# ---- pages of a long log ----


def long_log(total_lines: int, big: int) -> dict:
    """Bulk-insert a LogChunk table of `total_lines` lines: run "one row per line" and run
    "100-line rows" of `big` lines each, the rest in 1,000-line rows of 100k-line runs."""
    from django.db import connection, transaction

    from jobs.models import Job
    from runs.models import LogChunk, Run, RunStatus

    job = Job.objects.first()
    now = datetime.now(UTC)
    adapt = connection.ops.adapt_datetimefield_value

    def run_of() -> Run:
        return Run.objects.create(
            job=job,
            status=RunStatus.SUCCESS,
            trigger_type="manual",
            available_at=now,
            started_at=now,
            finished_at=now,
        )

    sql = (
        f"INSERT INTO {LogChunk._meta.db_table} "
        "(run_id, first_line, last_line, created_at, data) VALUES (%s, %s, %s, %s, %s)"
    )

    def fill(run: Run, lines: int, per_row: int) -> None:
        key = Run._meta.pk.get_db_prep_value(run.pk, connection)
        at = adapt(now)
        for start in range(1, lines + 1, 200_000):
            rows = []
            for first in range(start, min(lines, start + 199_999) + 1, per_row):
                last = min(lines, first + per_row - 1)
                data = "\n".join(f"o0\tline {n} of a long log" for n in range(first, last + 1))
                rows.append((key, first, last, at, data))
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, rows)

    runs = {"one row per line": run_of(), "100-line rows": run_of()}
    fill(runs["one row per line"], big, 1)
    fill(runs["100-line rows"], big, 100)
    rest = max(0, total_lines - 2 * big)
    while rest > 0:
        size = min(rest, 100_000)
        fill(run_of(), size, 1000)
        rest -= size
    return runs


def before_issue_14(run, after: int, limit: int) -> list:
    """The read run_log_lines made before issue 14, for comparison."""
    from runs.logformat import decode_chunk
    from runs.models import LogChunk

    lines, cursor = [], after
    while len(lines) < limit:
        chunks = list(
            LogChunk.objects.filter(run=run, last_line__gt=cursor).order_by("first_line")[:16]
        )
        if not chunks:
            break
        for chunk in chunks:
            for line in decode_chunk(chunk):
                if line.number > cursor and len(lines) < limit:
                    lines.append(line)
                    cursor = line.number
    return lines


def pages(args) -> None:
    from runs import wire
    from runs.models import LogChunk
    from runs.services import run_log_lines

    started = time.monotonic()
    runs = long_log(args.lines, args.big)
    total = sum(
        chunk.last_line - chunk.first_line + 1
        for chunk in LogChunk.objects.only("first_line", "last_line").iterator(chunk_size=5000)
    )
    print(
        f"\nlog pages: {total:,} lines in {LogChunk.objects.count():,} rows (built in "
        f"{time.monotonic() - started:.0f} s); p95 of a 1,000-line page, read and encoded "
        f"(target <= {TARGET_PAGE_P95_MS} ms)"
    )
    print(f"  {'run':18} {'read':14} {'start':>8} {'middle':>8} {'end':>8}")
    rng = random.Random(14)
    for label, run in runs.items():
        for name, read in (("now", run_log_lines), ("before issue 14", before_issue_14)):
            cells = []
            for where in (0, args.big // 2, args.big - 1000):
                samples = []
                # the read before issue 14 takes seconds a page at the start of a long log
                for _ in range(args.samples if read is run_log_lines else args.before_samples):
                    after = max(0, where + rng.randint(-500, 0))
                    t0 = time.perf_counter()
                    lines = read(run=run, after=after, limit=1000)
                    json.dumps([wire.log_line(line) for line in lines])
                    samples.append((time.perf_counter() - t0) * 1000)
                    assert [x.number for x in lines] == list(range(after + 1, after + 1001))
                cells.append(_engine.percentile(samples, 0.95))
            print(f"  {label:18} {name:14} " + " ".join(f"{value:8.1f}" for value in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--jobs-per-minute", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="one streams, one runs the tick's")
    parser.add_argument("--lines", type=int, default=10_000_000, help="log lines in the table")
    parser.add_argument("--big", type=int, default=1_000_000, help="lines of the long runs")
    parser.add_argument("--samples", type=int, default=40, help="pages per cell")
    parser.add_argument("--before-samples", type=int, default=3, help="pages per cell, old read")
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--skip-pages", action="store_true")
    args = parser.parse_args()
    _engine.setup("sqlite")
    print(
        f"soak: {args.clients} API clients, {args.jobs_per_minute} jobs/min, one job streaming "
        f"50 lines/s, {args.minutes:g} min, {args.workers} workers, SQLite"
    )
    if not args.skip_soak:
        soak(args)
    if not args.skip_pages:
        pages(args)


if __name__ == "__main__":
    main()
