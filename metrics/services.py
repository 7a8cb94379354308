"""Numbers for the dashboard, the metrics pages and a run's samples, from real rows: what the
API returns and the admin pages show (docs/api.md: camelCase keys, durations in ms, timestamps
ISO 8601 UTC with a "Z").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Avg, Count, F, FloatField, Func, Max, Q, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from jobs.models import Job
from metrics.models import MetricAggregate, MetricSample, PeriodType
from runs.models import Run, RunStatus, WorkerHeartbeat, WorkerRole
from taskflow_site.lib.formatting import iso

# Runs that executed: skipped ones never started, cancelled ones are nobody's failure.
EXECUTED = [RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.TIMEOUT]
FAILED = [RunStatus.FAILURE, RunStatus.TIMEOUT]
DASHBOARD_WINDOW = timedelta(hours=24)
MAX_RUN_SAMPLES = 2000  # a day-long run at 2 s is 43k samples; the chart needs far fewer


def cluster_uptime_ms(*, now: datetime) -> int:
    """ms since the oldest live cluster process started (0 when no cluster is alive)."""
    fresh_after = now - timedelta(seconds=settings.TASKFLOW["STALE_AFTER_SECONDS"])
    started = (
        WorkerHeartbeat.objects.filter(role=WorkerRole.CLUSTER, heartbeat_at__gte=fresh_after)
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    if started is None:
        return 0
    return max(0, int((now - started).total_seconds() * 1000))


class Unindexed(Func):
    """A column SQLite may not use an index for (`+col`); plain elsewhere.

    Without ANALYZE statistics SQLite prefers any equality/IN on an indexed column to a range,
    so `job_id IN (...)` would read every run of the user's jobs instead of the 24 h range.
    """

    template = "%(expressions)s"

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="+%(expressions)s", **extra_context)


def window_runs(user):
    """Run.objects.visible_to(user) for reads led by a time range: a user's jobs as an IN the
    database may not use an index for, so the range's index leads (not the job's runs)."""
    rows = Run.objects.all()
    if not (user.is_authenticated and user.is_active and user.is_admin):  # as visible_to
        own_jobs = Job.objects.visible_to(user).values("id")
        rows = rows.annotate(
            job_ref=Unindexed("job_id", output_field=Run._meta.get_field("id"))
        ).filter(job_ref__in=own_jobs)
    return rows


def _window_figures(*, user, since) -> dict:
    """Counts and duration sums of the runs `user` sees that finished since `since`.

    One aggregate with no GROUP BY whose WHERE holds only the finished_at range as an indexable
    term, touching only finished_at/status/duration_ms/job: the database reads the window from
    run_finished_cover_idx alone. (A status IN or GROUP BY let SQLite walk a status or job
    index end to end instead: seconds at 1M runs.)
    """
    rows = window_runs(user).filter(finished_at__gte=since)
    # finished_at is never null in the window: counting it counts rows, inside the index
    return rows.aggregate(
        succeeded=Count("finished_at", filter=Q(status=RunStatus.SUCCESS)),
        failed=Count("finished_at", filter=Q(status__in=FAILED)),
        timed=Count("duration_ms", filter=Q(status__in=EXECUTED)),
        total_ms=Sum("duration_ms", filter=Q(status__in=EXECUTED)),
    )


def dashboard_stats(*, user) -> dict:
    """KPIs over what `user` may see.

    activeJobs (enabled jobs) and runningNow are current; successRate, totalFailures and
    averageDuration cover runs that finished in the last 24 h (a bounded, indexed window, so
    the page stays fast with millions of runs). successRate = success / (success + failure +
    timeout), 0.0 when nothing ran. uptime = ms since the cluster started.
    """
    now = timezone.now()
    runs = Run.objects.visible_to(user)
    window = _window_figures(user=user, since=now - DASHBOARD_WINDOW)
    succeeded, failed = window["succeeded"], window["failed"]
    executed = succeeded + failed
    timed, total_ms = window["timed"], window["total_ms"] or 0
    return {
        "activeJobs": Job.objects.visible_to(user).filter(enabled=True).count(),
        "runningNow": runs.filter(status=RunStatus.RUNNING).count(),
        "successRate": round(succeeded / executed, 4) if executed else 0.0,
        "totalFailures": failed,
        "averageDuration": int(total_ms / timed) if timed else 0,
        "uptime": cluster_uptime_ms(now=now),
    }


def upcoming_jobs(*, user, limit: int = 10):
    """The enabled jobs `user` sees that fire next, soonest first (the dashboard's list)."""
    # `enabled__in`, as Job.objects.due does: job_due_idx then serves filter and order
    return (
        Job.objects.visible_to(user)
        .filter(enabled__in=[True], next_run_at__isnull=False)
        .select_related("created_by", "schedule")
        .order_by("next_run_at")[:limit]
    )


def run_period_stats(runs, *, trunc) -> dict[datetime, dict]:
    """Per-period (TruncHour/TruncDay of finished_at, UTC) figures of executed runs."""
    rows = (
        runs.filter(status__in=EXECUTED, finished_at__isnull=False)
        .annotate(period=trunc("finished_at", tzinfo=UTC))
        .values("period")
        .annotate(
            run_count=Count("id"),
            success_count=Count("id", filter=Q(status=RunStatus.SUCCESS)),
            failure_count=Count("id", filter=Q(status__in=FAILED)),
            avg_duration_ms=Avg("duration_ms"),
            max_duration_ms=Max("duration_ms"),
            avg_cpu_percent=Avg("cpu_percent_avg"),
            max_cpu_percent=Max("cpu_percent_max"),
            avg_memory_bytes=Avg("memory_bytes_avg"),
            max_memory_bytes=Max("memory_bytes_max"),
        )
        .order_by("period")
    )
    return {row.pop("period"): row for row in rows}


def job_metrics(*, job, range_days: int) -> dict:
    """History of one job over the last `range_days` days (docs/api.md: 7d/30d/90d trends)."""
    return {"jobId": str(job.id), **_history(Q(job=job), range_days=range_days)}


def jobs_metrics(*, user, range_days: int) -> dict:
    """The same history over every job `user` sees, each period summed over the jobs."""
    return _history(Q(job__in=Job.objects.visible_to(user).values("id")), range_days=range_days)


def _history(scope: Q, *, range_days: int) -> dict:
    """Points are hourly for ranges up to 7 days, daily beyond. Older periods come from the
    rollups (MetricAggregate, kept after retention deletes the runs); the current period and
    the one before it are computed live from the runs, so the page is never stale and a run
    that finished just before the boundary counts before the rollup has seen it.
    """
    range_days = max(1, int(range_days))
    now = timezone.now()
    hourly = range_days <= 7
    period_type = PeriodType.HOURLY if hourly else PeriodType.DAILY
    trunc = TruncHour if hourly else TruncDay
    if hourly:
        current = now.replace(minute=0, second=0, microsecond=0)
        live_from = current - timedelta(hours=1)
    else:
        current = now.replace(hour=0, minute=0, second=0, microsecond=0)
        live_from = current - timedelta(days=1)
    since = now - timedelta(days=range_days)
    live_from = max(live_from, since)

    figures = _rollup_figures(
        MetricAggregate.objects.filter(
            scope, period_type=period_type, period_start__gte=since, period_start__lt=live_from
        )
    )
    figures.update(
        run_period_stats(Run.objects.filter(scope, finished_at__gte=live_from), trunc=trunc)
    )
    return {
        "rangeDays": range_days,
        "granularity": period_type.value,
        "summary": _summary(figures.values()),
        "points": [_point(start, figures[start]) for start in sorted(figures)],
    }


AVERAGED = ("avg_duration_ms", "avg_cpu_percent", "avg_memory_bytes")


def _rollup_figures(rollups) -> dict[datetime, dict]:
    """Rollup rows per period: counts summed over the jobs, each average weighted by the runs
    behind it (kept as `<key>_runs` for the summary). A period of one job keeps its stored
    averages as they are, not as a sum divided back."""
    annotations = {}
    for key in AVERAGED:  # first: F("run_count") must mean the column, not the sum below
        annotations[f"{key}_one"] = Max(key)
        annotations[f"{key}_sum"] = Sum(F(key) * F("run_count"), output_field=FloatField())
        annotations[f"{key}_runs"] = Sum("run_count", filter=Q(**{f"{key}__isnull": False}))
    annotations |= {
        "rows": Count("id"),
        "run_count": Sum("run_count"),
        "success_count": Sum("success_count"),
        "failure_count": Sum("failure_count"),
        "max_duration_ms": Max("max_duration_ms"),
        "max_cpu_percent": Max("max_cpu_percent"),
        "max_memory_bytes": Max("max_memory_bytes"),
    }
    figures = {}
    for row in rollups.order_by().values("period_start").annotate(**annotations):
        for key in AVERAGED:
            one, total = row.pop(f"{key}_one"), row.pop(f"{key}_sum")
            runs = row[f"{key}_runs"] = row[f"{key}_runs"] or 0
            row[key] = one if row["rows"] == 1 else (total / runs if runs else None)
        figures[row.pop("period_start")] = row
    return figures


def _point(period_start, row: dict) -> dict:
    runs, succeeded = row["run_count"], row["success_count"]
    avg_ms, max_ms = row["avg_duration_ms"], row["max_duration_ms"]
    cpu, cpu_max = row["avg_cpu_percent"], row["max_cpu_percent"]
    mem, mem_max = row["avg_memory_bytes"], row["max_memory_bytes"]
    return {
        "periodStart": iso(period_start),
        "runCount": runs,
        "successCount": succeeded,
        "failureCount": row["failure_count"],
        "successRate": round(succeeded / runs, 4) if runs else None,
        "avgDuration": int(avg_ms) if avg_ms is not None else None,
        "maxDuration": int(max_ms) if max_ms is not None else None,
        "avgCpuPercent": round(cpu, 2) if cpu is not None else None,
        "maxCpuPercent": round(cpu_max, 2) if cpu_max is not None else None,
        "avgMemoryBytes": int(mem) if mem is not None else None,
        "maxMemoryBytes": int(mem_max) if mem_max is not None else None,
    }


def _weighted(rows, key: str) -> float | None:
    """Average of per-period averages weighted by the runs behind each (periods without data
    skipped); a live period's weight is its run count."""
    total = weight = 0
    for row in rows:
        runs = row.get(f"{key}_runs", row["run_count"])
        if row[key] is not None and runs:
            total += row[key] * runs
            weight += runs
    return total / weight if weight else None


def _max(rows, key: str):
    values = [row[key] for row in rows if row[key] is not None]
    return max(values) if values else None


def _summary(rows) -> dict:
    rows = list(rows)
    point = _point(
        None,
        {
            "run_count": sum(row["run_count"] for row in rows),
            "success_count": sum(row["success_count"] for row in rows),
            "failure_count": sum(row["failure_count"] for row in rows),
            **{key: _weighted(rows, key) for key in AVERAGED},
            **{
                key: _max(rows, key)
                for key in ("max_duration_ms", "max_cpu_percent", "max_memory_bytes")
            },
        },
    )
    point.pop("periodStart")
    return point


def sample_message(sample: MetricSample) -> dict:
    return {
        "timestamp": iso(sample.timestamp),
        "cpuPercent": round(sample.cpu_percent, 2),
        "memoryBytes": sample.memory_bytes,
        "memoryPercent": round(sample.memory_percent, 2),
    }


MAX_SAMPLES_PER_READ = 500  # per live poll


def samples_store(sender, *, run_id, samples, **kwargs) -> None:
    """runs.seams.samples_taken: insert the executor's samples in its transaction. executemany
    on raw SQL: several times cheaper per row than bulk_create, and this is the hot path."""
    if not samples:
        return
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {MetricSample._meta.db_table} "  # noqa: S608 (fixed names)
            "(run_id, timestamp, cpu_percent, memory_bytes, memory_percent) "
            "VALUES (%s, %s, %s, %s, %s)",
            [(run_id, adapt(at), cpu, rss, mem) for at, cpu, rss, mem in samples],
        )


def samples_after(sender, *, run_id, after_id: int, limit: int = MAX_SAMPLES_PER_READ, **kwargs):
    """runs.seams.samples_wanted: a live viewer's next samples as wire messages, and the last
    id read (after_id when there is none).

    Read in (timestamp, id) order from sample_run_time_idx, after the sample `after_id`: no
    sort of the run's earlier samples (an executor writes a run's samples in time order).
    """
    samples = MetricSample.objects.filter(run_id=run_id)
    last = None
    if after_id:
        last = samples.filter(pk=after_id).order_by().values_list("timestamp", flat=True).first()
    if last is not None:
        samples = samples.filter(
            Q(timestamp__gt=last) | Q(timestamp=last, id__gt=after_id), timestamp__gte=last
        )
    elif after_id:
        samples = samples.filter(id__gt=after_id)
    samples = list(samples.order_by("timestamp", "id")[:limit])
    messages = [{"type": "metric", "runId": str(run_id), **sample_message(s)} for s in samples]
    return messages, (samples[-1].id if samples else after_id)


def run_metrics(*, run) -> dict:
    """Samples of one run (thinned evenly to at most MAX_RUN_SAMPLES) and its summary.

    The summary is the run row's figures (filled by the executor at the end: cpuSeconds is the
    whole tree's CPU time as the kernel counts it); while the run is still going they are
    computed from the samples so far, and cpuSeconds is null.
    """
    samples = MetricSample.objects.filter(run=run).order_by("timestamp")
    stats = samples.aggregate(
        count=Count("id"),
        cpu_avg=Avg("cpu_percent"),
        cpu_max=Max("cpu_percent"),
        mem_avg=Avg("memory_bytes"),
        mem_max=Max("memory_bytes"),
    )
    count = stats["count"]
    rows = list(samples)
    if count > MAX_RUN_SAMPLES:
        step = count / MAX_RUN_SAMPLES
        rows = [rows[int(index * step)] for index in range(MAX_RUN_SAMPLES)]

    def pick(own, computed):
        return own if own is not None else computed

    cpu_avg = pick(run.cpu_percent_avg, stats["cpu_avg"])
    cpu_max = pick(run.cpu_percent_max, stats["cpu_max"])
    mem_avg = pick(run.memory_bytes_avg, stats["mem_avg"])
    mem_max = pick(run.memory_bytes_max, stats["mem_max"])
    return {
        "runId": str(run.id),
        "status": run.status,
        "samples": [sample_message(sample) for sample in rows],
        "summary": {
            "sampleCount": count,
            "cpuPercentAvg": round(cpu_avg, 2) if cpu_avg is not None else None,
            "cpuPercentMax": round(cpu_max, 2) if cpu_max is not None else None,
            "memoryBytesAvg": int(mem_avg) if mem_avg is not None else None,
            "memoryBytesMax": int(mem_max) if mem_max is not None else None,
            "duration": run.duration_ms,
            "cpuSeconds": round(run.cpu_seconds, 3) if run.cpu_seconds is not None else None,
        },
    }
