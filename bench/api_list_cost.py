"""API read latency with many runs (target: list runs / dashboard stats p95 <= 50 ms at 1M runs).

A scratch SQLite database (or DATABASE_URL) gets J jobs owned by U users and N finished runs
spread over 90 days; then GET /api/runs (first page, a status filter, a job filter, a deep
offset), GET /api/jobs and GET /api/dashboard/stats are timed through the full Django stack
(JWT auth, throttles, serializers) as an admin and as a user who owns 1/U of the jobs.
Log lines do not take part in these queries, so none are inserted.
Usage: uv run python bench/api_list_cost.py [--runs 1000000] [--jobs 1000] [--users 10]
       [--rounds 40] [--db PATH: keep the SQLite file and reuse its rows on the next run]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 50


def setup_env(db_path: str | None) -> None:
    data_dir = str(Path(db_path).parent) if db_path else tempfile.mkdtemp(prefix="taskflow-bench-")
    os.environ.update(
        TASKFLOW_DATA_DIR=data_dir,
        TASKFLOW_CONFIG=os.devnull,
        DJANGO_SETTINGS_MODULE="taskflow_site.settings",
        TASKFLOW_LOG_LEVEL="error",
    )
    if not os.environ.get("DATABASE_URL"):
        os.environ["TASKFLOW_DB_PATH"] = db_path or str(Path(data_dir) / "bench.sqlite3")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
    sys.path.insert(0, str(ROOT))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def populate(*, runs: int, jobs: int, users: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Role, User
    from jobs.models import Job
    from runs.models import Run, RunStatus, TriggerType

    if Run.objects.count() >= runs:
        return
    now = timezone.now()
    owners = [
        User.objects.get_or_create(username=f"bench-user-{i}", defaults={"role": Role.USER})[0]
        for i in range(users)
    ]
    User.objects.get_or_create(
        username="bench-admin", defaults={"role": Role.ADMIN, "is_superuser": True}
    )
    job_rows = [
        Job(name=f"bench-job-{i:05d}", script="true", created_by=owners[i % users])
        for i in range(jobs)
    ]
    Job.objects.bulk_create(job_rows, batch_size=1000)
    job_ids = list(Job.objects.values_list("id", flat=True))
    statuses = [RunStatus.SUCCESS] * 8 + [RunStatus.FAILURE, RunStatus.TIMEOUT]
    rng = random.Random(7)
    started = time.perf_counter()
    batch: list[Run] = []
    for index in range(runs):
        created = now - timedelta(seconds=rng.randrange(90 * 86400))
        batch.append(
            Run(
                id=uuid.uuid4(),
                job_id=job_ids[index % len(job_ids)],
                status=statuses[index % len(statuses)],
                trigger_type=TriggerType.SCHEDULED,
                spec={"kind": "shell", "script": "true"},
                available_at=created,
                created_at=created,
                started_at=created,
                finished_at=created + timedelta(seconds=2),
                duration_ms=2000,
                exit_code=0,
            )
        )
        if len(batch) == 20_000:
            with transaction.atomic():
                Run.objects.bulk_create(batch)
            batch.clear()
    if batch:
        with transaction.atomic():
            Run.objects.bulk_create(batch)
    # created_at is auto_now_add: put the spread-out times back in one statement
    Run.objects.update(created_at=models_f("available_at"))
    print(f"inserted {runs} runs in {time.perf_counter() - started:.1f} s")


def models_f(name):
    from django.db.models import F

    return F(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    setup_env(args.db)

    import django

    django.setup()
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from accounts.models import User
    from accounts.services import token_pair_for
    from jobs.models import Job

    populate(runs=args.runs, jobs=args.jobs, users=args.users)
    admin = User.objects.get(username="bench-admin")
    user = User.objects.get(username="bench-user-0")
    job = Job.objects.filter(created_by=user).first()
    endpoints = [
        ("runs, first page", "/api/runs"),
        ("runs?status=failure", "/api/runs?status=failure"),
        ("runs?job=<id>", f"/api/runs?job={job.id}"),
        ("runs, offset 5000", "/api/runs?offset=5000"),
        ("jobs", "/api/jobs"),
        ("dashboard/stats", "/api/dashboard/stats"),
    ]
    print(f"{args.runs} runs, {args.jobs} jobs; p50 / p95 ms over {args.rounds} requests")
    worst_p95 = 0.0
    for label, who in (("admin", admin), ("user", user)):
        client = APIClient(HTTP_HOST="localhost")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(who)['access']}")
        for name, url in endpoints:
            client.get(url)  # warm caches
            samples = []
            for _ in range(args.rounds):
                cache.clear()  # the bench is not what the 100/min throttle is for
                begin = time.perf_counter()
                response = client.get(url)
                samples.append((time.perf_counter() - begin) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            p50, p95 = percentile(samples, 50), percentile(samples, 95)
            if name.startswith(("runs, first", "dashboard")):
                worst_p95 = max(worst_p95, p95)
            print(f"  {label:5} {name:22} {p50:8.1f} {p95:8.1f}")
    verdict = "meets" if worst_p95 <= TARGET_MS else "misses"
    print(
        f"list runs / dashboard worst p95 {worst_p95:.1f} ms: {verdict} the {TARGET_MS} ms target"
    )


if __name__ == "__main__":
    main()
