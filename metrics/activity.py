"""What runs now, what ran and what comes next: the live parts of the home page and of a job's
page (GET /api/dashboard/activity, GET /api/jobs/<id>/activity), read from the rows the engine
writes. Keys follow docs/api.md (camelCase, durations in ms, times through formatting.iso).
"""

from __future__ import annotations

import heapq
import math
import re
from datetime import datetime, timedelta
from itertools import chain, islice, takewhile

from django.db.models import CharField
from django.utils import timezone

from jobs.models import Job
from jobs.schedule import ScheduleError, schedule_iter
from jobs.services import job_preview, job_schedule
from metrics.services import EXECUTED, FAILED, Unindexed, window_runs
from runs.logformat import decode_chunk
from runs.models import LogChunk, Run, RunStatus
from runs.serializers import RunOutput
from taskflow_site.lib.formatting import iso

# The log viewer's progress rule (static/taskflow/logviewer.js): the last "NN%" of a line.
PROGRESS = re.compile(r"(\d{1,3}(?:\.\d+)?)\s?%")
PROGRESS_CHUNKS = 3  # how far back a percentage is looked for (chunks hold many lines)
ACTIVE = [RunStatus.PENDING, RunStatus.RUNNING]
ACTIVE_LIMIT = 50
TIMELINE_CAP = 2000  # marks; the newest are kept when a window holds more
UPCOMING_LIMIT = 100
FAILURES_LIMIT = 10
JOB_WINDOW = 50  # a job page's strip, duration chart and figures: its last 50 runs
NEXT_RUNS = 5
MARK_FIELDS = (
    "id",
    "job_id",
    "status",
    "trigger_type",
    "created_at",
    "started_at",
    "finished_at",
    "duration_ms",
)


def run_progress(run_id) -> float | None:
    """The last percentage the run printed (stdout or stderr) in its newest stored chunks."""
    chunks = (
        LogChunk.objects.filter(run_id=run_id)
        .order_by("-last_line")
        .only("first_line", "last_line", "created_at", "data")[:PROGRESS_CHUNKS]
    )
    for chunk in chunks:
        for line in reversed(decode_chunk(chunk)):
            if line.stream == "system":
                continue
            found = PROGRESS.findall(line.content)
            if found and float(found[-1]) <= 100:
                return float(found[-1])
    return None


def active_runs(runs) -> list[dict]:
    """Pending and running runs of `runs` (already scoped), newest first, as GET /api/runs
    lists them plus `progress` (a running run's last NN%, else null)."""
    rows = (
        runs.filter(status__in=ACTIVE)
        .select_related("job", "triggered_by")
        .order_by("-created_at")[:ACTIVE_LIMIT]
    )
    return [
        {
            **RunOutput(run).data,
            "progress": run_progress(run.id) if run.status == RunStatus.RUNNING else None,
        }
        for run in rows
    ]


def _mark(row: dict) -> dict:
    """A run as a strip or timeline mark: what a mark shows and what its tooltip says."""
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "triggerType": row["trigger_type"],
        "createdAt": iso(row["created_at"]),
        "startedAt": iso(row["started_at"]),
        "finishedAt": iso(row["finished_at"]),
        "duration": row["duration_ms"],
    }


def timeline(runs, *, since: datetime) -> tuple[list[dict], bool]:
    """One row per job with a mark per run created since `since` (and runs still going that
    started earlier), rows by job name, marks oldest first; True when marks were left out."""
    recent = list(
        runs.filter(created_at__gte=since)
        .order_by("-created_at")
        .values(*MARK_FIELDS, "job__name")[: TIMELINE_CAP + 1]
    )
    truncated = len(recent) > TIMELINE_CAP
    older = runs.filter(status__in=ACTIVE, created_at__lt=since)
    rows = recent[:TIMELINE_CAP] + list(older.values(*MARK_FIELDS, "job__name")[:ACTIVE_LIMIT])
    jobs: dict = {}
    for row in rows:
        key = row["job_id"]
        entry = jobs.setdefault(
            key,
            {
                "jobId": str(key) if key else None,
                "jobName": row["job__name"] or "(ad-hoc tasks)",
                "runs": [],
            },
        )
        entry["runs"].append(_mark(row))
    for entry in jobs.values():
        entry["runs"].sort(key=lambda mark: mark["createdAt"])
    return sorted(jobs.values(), key=lambda entry: entry["jobName"].lower()), truncated


def _fires(job: Job, schedule: dict, until: datetime):
    """(time, job) for each slot of `job` from its next run up to `until`."""
    first = job.next_run_at
    times = chain([first], schedule_iter(schedule, job.timezone, first))
    return ((at, job) for at in takewhile(lambda at: at <= until, times))


def upcoming_fires(jobs, *, until: datetime, limit: int = UPCOMING_LIMIT) -> list[dict]:
    """Every slot of the enabled jobs in `jobs` up to `until`, soonest first (at most `limit`):
    each job's iterator from its next_run_at, merged. At most `limit` jobs can place a slot in
    the first `limit`, so only the soonest `limit` jobs are walked."""
    due = (
        jobs.filter(enabled__in=[True], next_run_at__isnull=False, next_run_at__lte=until)
        .select_related("schedule")
        .order_by("next_run_at")[:limit]
    )
    streams = []
    for job in due:
        schedule = job_schedule(job)
        if schedule is not None:
            streams.append(_fires(job, schedule, until))
    merged = heapq.merge(*streams, key=lambda pair: pair[0])
    return [
        {"jobId": str(job.id), "jobName": job.name, "timezone": job.timezone, "at": iso(at)}
        for at, job in islice(merged, limit)
    ]


def recent_failures(runs, *, since: datetime, limit: int = FAILURES_LIMIT) -> list[dict]:
    # newest first along run_finished_cover_idx (status is in it): with status indexable,
    # SQLite reads every failed run ever (run_status_time_idx) to keep the last day's ten
    rows = (
        runs.annotate(state=Unindexed("status", output_field=CharField()))
        .filter(state__in=FAILED, finished_at__gte=since)
        .select_related("job", "triggered_by")
        .order_by("-finished_at")[:limit]
    )
    return RunOutput(rows, many=True).data


def dashboard_activity(*, user, hours: int = 24) -> dict:
    """The home page's live parts over what `user` sees: active runs with progress, every
    slot of the next `hours`, a timeline of the last `hours` and the recent failures."""
    now = timezone.now()
    since, until = now - timedelta(hours=hours), now + timedelta(hours=hours)
    runs = Run.objects.visible_to(user)
    rows, truncated = timeline(runs, since=since)
    return {
        "from": iso(since),
        "to": iso(now),
        "upcomingUntil": iso(until),
        "active": active_runs(runs),
        "upcoming": upcoming_fires(Job.objects.visible_to(user), until=until),
        "timeline": rows,
        "timelineTruncated": truncated,
        "failures": recent_failures(window_runs(user), since=since),
    }


def percentile(values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def job_summary(marks: list[dict]) -> dict:
    """Figures of a job's last runs: success rate over the runs that executed (success,
    failure, timeout), average and p95 duration over those with a duration."""
    executed = [mark for mark in marks if mark["status"] in EXECUTED]
    succeeded = sum(1 for mark in executed if mark["status"] == RunStatus.SUCCESS)
    durations = [mark["duration"] for mark in executed if mark["duration"] is not None]
    return {
        "runCount": len(marks),
        "executedCount": len(executed),
        "successCount": succeeded,
        "failureCount": len(executed) - succeeded,
        "successRate": round(succeeded / len(executed), 4) if executed else None,
        "averageDuration": int(sum(durations) / len(durations)) if durations else None,
        "p95Duration": percentile(durations, 0.95),
    }


def job_next_runs(job: Job, *, count: int = NEXT_RUNS) -> list[str]:
    """The next `count` slots of an enabled, scheduled job (none for a manual-only or
    disabled job: those slots will not fire)."""
    schedule = job_schedule(job)
    if schedule is None or not job.enabled:
        return []
    try:
        return [iso(at) for at in job_preview(schedule=schedule, tz_name=job.timezone, count=count)]
    except ScheduleError:  # a schedule that can no longer fire (its years are past)
        return []


def job_activity(*, job: Job) -> dict:
    """A job page's live parts: its active runs with progress, its last JOB_WINDOW runs as
    marks (newest first) with their figures, and its next runs."""
    runs = Run.objects.filter(job=job)
    recent = [_mark(row) for row in runs.order_by("-created_at").values(*MARK_FIELDS)[:JOB_WINDOW]]
    return {
        "jobId": str(job.id),
        "enabled": job.enabled,
        "timezone": job.timezone,
        "nextRun": iso(job.next_run_at),
        "nextRuns": job_next_runs(job),
        "active": active_runs(runs),
        "recent": recent,
        "summary": job_summary(recent),
    }
