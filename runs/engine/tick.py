"""The minute tick: fire due jobs right after each minute boundary (as cluster steps), and keep a
"tick" heartbeat fresh for /health while the tick itself keeps succeeding.

Missed slots (the tick found slots older than MISSED_AFTER_SECONDS, i.e. the scheduler was not
running; docs/architecture.md, record 4): `skip` records each as a skipped run (with the reason
as its system line, like every skipped run); `run_once` starts one catch-up run for the latest
missed slot (none when an on-time run fires in the same tick) and records the rest as skipped;
`run_all` starts a catch-up run for each missed slot within `catchup_window_seconds` and records
older ones as skipped. After a long outage only the most recent MISSED_RECORD_LIMIT + 1 slots
are itemised (and, under run_all, run); one more skipped row, at the oldest slot, says how
many were not listed and how many of them run_all left unrun. Enabling a job (or changing its
schedule or zone) is a fresh start from now: no past slot ever fires because of it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from jobs.models import CatchupPolicy, Job
from jobs.schedule import schedule_next, schedule_window
from jobs.services import job_schedule
from runs.engine.heartbeats import heartbeat_beat
from runs.models import TriggerType
from runs.services import run_enqueue_many
from taskflow_site.lib.steps import Step

logger = logging.getLogger("taskflow.scheduler")

# A slot older than this when the tick sees it was missed (scheduler down or stalled).
MISSED_AFTER_SECONDS = 60
MISSED_RECORD_LIMIT = 200  # missed slots itemised as skipped runs (the most recent ones)
TICK_BATCH = 1000  # due jobs read per query (the loop continues until none is left)
TICK_COMMIT_EVERY = 50  # jobs per transaction: short write locks on SQLite, few commits

# /health reports the tick stale when its last successful pass is older than this
TICK_HEALTHY_SECONDS = 90


def next_minute(now: float) -> float:
    """The next whole minute strictly after `now` (epoch seconds)."""
    return (math.floor(now / 60) + 1) * 60.0


class Tick:
    """State shared by the tick step and its heartbeat step (one per process)."""

    def __init__(self) -> None:
        self.last_ok: float | None = None  # time.monotonic() of the last successful pass

    def run(self, now: float) -> bool:
        # the loop's `now` was taken before earlier steps ran; the boundary has passed anyway
        instant = datetime.fromtimestamp(max(now, time.time()), UTC)
        created = tick_run(now=instant)
        self.last_ok = time.monotonic()
        heartbeat_beat(role="tick")
        if created:
            logger.info("tick %s: %d run(s) enqueued", instant.isoformat(), created)
        return created > 0

    def beat(self, now: float) -> bool:
        if self.last_ok is not None and time.monotonic() - self.last_ok < TICK_HEALTHY_SECONDS:
            heartbeat_beat(role="tick")
        return False

    def steps(self) -> list[Step]:
        beat = settings.TASKFLOW["HEARTBEAT_SECONDS"]
        return [
            Step("tick", self.run, next_at=next_minute),
            Step("tick-heartbeat", self.beat, interval=beat),
        ]


def tick_steps() -> list[Step]:
    return Tick().steps()


# ---- the minute tick -------------------------------------------------------------------------


def _fmt(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _due_slots(
    job: Job, schedule: dict, now: datetime
) -> tuple[list[datetime], int, datetime | None]:
    """Slots from next_run_at up to now (the most recent MISSED_RECORD_LIMIT + 1 of them), how
    many there were (counted, not walked: exact after any outage), and the first slot after
    now."""
    first = job.next_run_at
    recent, later = schedule_window(
        schedule, job.timezone, first, now, keep=MISSED_RECORD_LIMIT + 1
    )
    slots = recent if later > MISSED_RECORD_LIMIT else [first, *recent]
    return slots, later + 1, schedule_next(schedule, job.timezone, now)


@dataclasses.dataclass
class _Firing:
    """What the tick does for one due job: skipped slots, runs to enqueue, the advance."""

    job: Job
    # reason -> slots; (slot, trigger_type) to enqueue
    skipped: dict[str, list[datetime]] = dataclasses.field(default_factory=dict)
    fire: list[tuple[datetime, str]] = dataclasses.field(default_factory=list)
    upcoming: datetime | None = None
    schedule_gone: bool = False


def _job_plan(job: Job, now: datetime) -> _Firing:
    """The due slots of one job per its catch-up policy (no writes)."""

    plan = _Firing(job)
    schedule = job_schedule(job)
    if schedule is None:
        plan.schedule_gone = True
        return plan
    slots, total, plan.upcoming = _due_slots(job, schedule, now)
    on_time = slots[-1] if now - slots[-1] <= timedelta(seconds=MISSED_AFTER_SECONDS) else None
    missed = slots[:-1] if on_time else slots
    unlisted = total - len(slots)

    skipped: list[tuple[datetime, str]] = []
    policy = job.catchup_policy
    if policy == CatchupPolicy.RUN_ALL:
        window = timedelta(seconds=job.catchup_window_seconds)
        for slot in missed:
            if now - slot <= window:
                plan.fire.append((slot, TriggerType.CATCHUP))
            else:
                skipped.append((slot, "missed: older than the catch-up window"))
    elif policy == CatchupPolicy.RUN_ONCE and missed:
        if on_time:
            reason = f"missed: covered by the on-time run of {_fmt(on_time)}"
            skipped.extend((slot, reason) for slot in missed)
        else:
            reason = f"missed: one catch-up run was started for {_fmt(missed[-1])}"
            skipped.extend((slot, reason) for slot in missed[:-1])
            plan.fire.append((missed[-1], TriggerType.CATCHUP))
    else:
        reason = "missed: the scheduler was not running (catch-up policy: skip)"
        skipped.extend((slot, reason) for slot in missed)
    if on_time:
        plan.fire.append((on_time, TriggerType.SCHEDULED))

    for slot, reason in skipped:
        plan.skipped.setdefault(reason, []).append(slot)
    if unlisted:
        plan.skipped[_unlisted_reason(job, schedule, slots[0], unlisted, now)] = [job.next_run_at]
    return plan


def _unlisted_reason(job: Job, schedule: dict, oldest: datetime, unlisted: int, now) -> str:
    """What the one row standing for the oldest slots (those not listed one by one) says: how
    many, and under run_all how many of them were inside the catch-up window but not run."""
    reason = (
        f"missed: {unlisted} earlier missed slots not listed one by one, from "
        f"{_fmt(job.next_run_at)} to before {_fmt(oldest)}"
    )
    if job.catchup_policy != CatchupPolicy.RUN_ALL:
        return reason
    cutoff = now - timedelta(seconds=job.catchup_window_seconds)  # run_all: slot >= cutoff
    if cutoff <= job.next_run_at:
        wanted = unlisted
    elif cutoff >= oldest:
        wanted = 0
    else:  # the slots in [cutoff, oldest)
        tiny = timedelta(microseconds=1)
        wanted = schedule_window(schedule, job.timezone, cutoff - tiny, oldest - tiny, keep=0)[1]
    return (
        f"{reason}; not run: {wanted} of them were within the catch-up window, but run_all "
        f"catches up at most the last {MISSED_RECORD_LIMIT + 1} missed slots"
    )


def _plans_apply(plans: list[_Firing], now: datetime) -> int:
    """Write the plans of several jobs in one transaction: the missed slots recorded as skipped
    and the runs to fire, all through one runs.services.run_enqueue_many (the same code as
    run_enqueue; a slot already recorded is left alone), then the advances."""

    with transaction.atomic():
        skipped = [
            {
                "job": plan.job,
                "trigger_type": TriggerType.SCHEDULED,
                "scheduled_for": slot,
                "skip_reason": reason,
            }
            for plan in plans
            for reason, reason_slots in plan.skipped.items()
            for slot in reason_slots
        ]
        fired = [
            {"job": plan.job, "trigger_type": trigger, "scheduled_for": slot}
            for plan in plans
            for slot, trigger in plan.fire
        ]
        results = run_enqueue_many(items=skipped + fired)[len(skipped) :]
        created_by_job: dict = {}
        for (_, was_created), item in zip(results, fired, strict=True):
            if was_created:
                created_by_job[item["job"].pk] = created_by_job.get(item["job"].pk, 0) + 1
        # Conditional on the old value: a second scheduler, or an edit meanwhile, wins. Jobs
        # with the same changes (every-minute jobs: the same next slot) share one UPDATE.
        advances: dict[tuple, Q] = {}
        for plan in plans:
            job = plan.job
            upcoming = None if plan.schedule_gone else plan.upcoming
            fired = not plan.schedule_gone and bool(created_by_job.get(job.pk))
            match = Q(pk=job.pk, next_run_at=job.next_run_at)
            key = (upcoming, fired)
            advances[key] = advances[key] | match if key in advances else match
        for (upcoming, fired), match in advances.items():
            changes = {"next_run_at": upcoming, **({"last_run_at": now} if fired else {})}
            Job.objects.filter(match).update(**changes)
    return sum(created_by_job.values())


def _job_fire(job: Job, now: datetime) -> int:
    """Enqueue the due slots of one job per its catch-up policy; advance next_run_at."""
    return _plans_apply([_job_plan(job, now)], now)


def _jobs_fire(jobs: list[Job], now: datetime, failed: set) -> int:
    """One transaction for the group; if it fails, job by job so one broken job (added to
    `failed`) cannot starve the others."""
    plans = []
    for job in jobs:
        try:
            plans.append(_job_plan(job, now))
        except Exception:
            failed.add(job.pk)
            logger.exception("tick: job %s failed to fire", job.pk)
    try:
        return _plans_apply(plans, now)
    except Exception:
        logger.warning("tick: a group failed; firing its jobs one by one", exc_info=True)
    created = 0
    for plan in plans:
        try:
            created += _plans_apply([plan], now)
        except Exception:  # one broken job must not starve the others
            failed.add(plan.job.pk)
            logger.exception("tick: job %s failed to fire", plan.job.pk)
    return created


def tick_run(*, now: datetime) -> int:
    """Fire every enabled job whose next_run_at <= now; returns the runs created.

    Reads only due jobs through the (enabled, next_run_at) index, so the cost follows the
    jobs that are due; each group of TICK_COMMIT_EVERY jobs is written in one transaction with
    a fixed number of queries. Idempotent: (job, scheduled_for) is unique and next_run_at
    advances conditionally, so a second tick or a second scheduler process creates nothing."""
    created = 0
    failed: set = set()
    while True:
        due = list(
            Job.objects.due(now)
            .exclude(pk__in=failed)
            .select_related("schedule")
            .order_by("next_run_at")[:TICK_BATCH]
        )
        for start in range(0, len(due), TICK_COMMIT_EVERY):
            created += _jobs_fire(due[start : start + TICK_COMMIT_EVERY], now, failed)
        if len(due) < TICK_BATCH:
            return created
