"""The minute tick: due jobs only, once per slot, disabled jobs never, catch-up policies (B6),
enabling as a fresh start, overlap handed to run_enqueue (A9), and the tick's cluster step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from jobs.models import CatchupPolicy, Job, OverlapPolicy
from jobs.services import job_create, job_set_enabled
from runs.engine.tick import Tick, next_minute, tick_run
from runs.models import Run, RunStatus, TriggerType, WorkerHeartbeat
from runs.services import run_log_lines
from tests.factories import RunFactory

pytestmark = pytest.mark.django_db

DAY1_10H = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
NOON = [datetime(2025, 6, day, 12, 0, tzinfo=UTC) for day in range(2, 8)]  # NOON[0] = day 1


def daily_noon(owner, **fields) -> Job:
    with time_machine.travel(DAY1_10H, tick=False):
        return job_create(
            created_by=owner,
            name=fields.pop("name", "daily"),
            script="echo hi",
            schedule={"hours": [12], "minutes": [0]},
            **fields,
        )


def runs_of(job: Job, **filters) -> list[Run]:
    return list(Run.objects.filter(job=job, **filters).order_by("scheduled_for"))


def test_it_fires_only_due_jobs_and_advances_their_next_run(owner):
    due = daily_noon(owner, name="due")
    with time_machine.travel(DAY1_10H, tick=False):
        later = job_create(
            created_by=owner, name="later", script="true", schedule={"hours": [18], "minutes": [0]}
        )
    now = NOON[0] + timedelta(seconds=0.3)

    assert tick_run(now=now) == 1

    (run,) = runs_of(due)
    assert run.scheduled_for == NOON[0]
    assert run.trigger_type == TriggerType.SCHEDULED
    assert run.status == RunStatus.PENDING
    assert run.spec["script"] == "echo hi"
    assert Job.objects.get(pk=due.pk).next_run_at == NOON[1]
    assert Job.objects.get(pk=due.pk).last_run_at == now
    assert runs_of(later) == []
    assert Job.objects.get(pk=later.pk).next_run_at == datetime(2025, 6, 2, 18, tzinfo=UTC)


def test_it_is_a_no_op_the_second_time_and_for_a_second_scheduler(owner):
    job = daily_noon(owner)
    now = NOON[0] + timedelta(seconds=1)
    assert tick_run(now=now) == 1
    assert tick_run(now=now) == 0
    # a second scheduler that read next_run_at before the first one advanced it
    Job.objects.filter(pk=job.pk).update(next_run_at=NOON[0])
    assert tick_run(now=now) == 0
    assert len(runs_of(job)) == 1
    assert Job.objects.get(pk=job.pk).next_run_at == NOON[1]


def test_it_never_fires_a_disabled_job(owner):
    job = daily_noon(owner)
    with time_machine.travel(DAY1_10H, tick=False):
        job_set_enabled(job=job, enabled=False)
    # even with a stale next_run_at left behind
    Job.objects.filter(pk=job.pk).update(next_run_at=NOON[0])
    assert tick_run(now=NOON[0] + timedelta(seconds=1)) == 0
    assert runs_of(job) == []


def test_it_reads_only_due_rows_through_the_index(owner, django_assert_max_num_queries):
    for index in range(20):
        daily_noon(owner, name=f"job{index}")
    with django_assert_max_num_queries(1):
        assert tick_run(now=NOON[0] - timedelta(minutes=1)) == 0
    if connection.vendor == "sqlite":  # a bare `WHERE enabled` made SQLite scan every job
        plan = Job.objects.due(NOON[0]).order_by("next_run_at").explain()
        assert "USING INDEX job_due_idx" in plan, plan


def test_it_catches_up_once_after_three_days_of_downtime(owner):  # B6 run_once (default)
    job = daily_noon(owner)
    assert job.catchup_policy == CatchupPolicy.RUN_ONCE
    now = NOON[2] + timedelta(hours=3)  # down from before day 1's noon to day 3, 15:00

    assert tick_run(now=now) == 1

    (catchup,) = runs_of(job, status=RunStatus.PENDING)
    assert catchup.trigger_type == TriggerType.CATCHUP
    assert catchup.scheduled_for == NOON[2]
    skipped = runs_of(job, status=RunStatus.SKIPPED)
    assert [run.scheduled_for for run in skipped] == NOON[:2]
    assert all("catch-up run was started" in run.error_message for run in skipped)
    assert Job.objects.get(pk=job.pk).next_run_at == NOON[3]
    assert tick_run(now=now) == 0


def test_it_skips_missed_slots_with_policy_skip_and_records_them(owner):  # B6 skip
    job = daily_noon(owner, catchup_policy=CatchupPolicy.SKIP)
    assert tick_run(now=NOON[2] + timedelta(hours=3)) == 0
    skipped = runs_of(job)
    assert [run.scheduled_for for run in skipped] == NOON[:3]
    assert {run.status for run in skipped} == {RunStatus.SKIPPED}
    assert all("not running" in run.error_message for run in skipped)
    # like every skipped run, each carries its reason as its one system line
    for run in skipped:
        (line,) = run_log_lines(run=run)
        assert (line.stream, line.content) == ("system", run.error_message)
        assert run.log_lines == 1 and run.finished_at is not None


def test_it_runs_every_missed_slot_within_the_window_with_run_all(owner):
    job = daily_noon(owner, catchup_policy=CatchupPolicy.RUN_ALL, catchup_window_seconds=3 * 86400)
    now = NOON[3] + timedelta(hours=3)  # day 1 noon is 75 h ago: outside the 72 h window
    assert tick_run(now=now) == 3
    pending = runs_of(job, status=RunStatus.PENDING)
    assert [run.scheduled_for for run in pending] == NOON[1:4]
    assert {run.trigger_type for run in pending} == {TriggerType.CATCHUP}
    (old,) = runs_of(job, status=RunStatus.SKIPPED)
    assert old.scheduled_for == NOON[0] and "window" in old.error_message


def test_it_does_not_add_a_catch_up_run_when_an_on_time_run_fires(owner):
    job = daily_noon(owner)
    now = NOON[3] + timedelta(seconds=5)  # back just in time for day 4's noon
    assert tick_run(now=now) == 1
    (run,) = runs_of(job, status=RunStatus.PENDING)
    assert run.scheduled_for == NOON[3] and run.trigger_type == TriggerType.SCHEDULED
    assert len(runs_of(job, status=RunStatus.SKIPPED)) == 3


def test_it_treats_a_slot_over_a_minute_late_as_missed(owner):
    job = daily_noon(owner)
    assert tick_run(now=NOON[0] + timedelta(seconds=61)) == 1
    (run,) = runs_of(job)
    assert run.trigger_type == TriggerType.CATCHUP and run.scheduled_for == NOON[0]


def test_it_does_not_fire_past_slots_when_a_job_is_enabled_again(owner):
    job = daily_noon(owner)
    with time_machine.travel(DAY1_10H, tick=False):
        job = job_set_enabled(job=job, enabled=False)
    with time_machine.travel(NOON[2] + timedelta(hours=3), tick=False):
        job = job_set_enabled(job=job, enabled=True)
    assert tick_run(now=NOON[2] + timedelta(hours=3, seconds=1)) == 0
    assert runs_of(job) == []
    assert job.next_run_at == NOON[3]


def test_it_bounds_the_record_of_a_long_outage_of_a_frequent_job(owner):
    with time_machine.travel(DAY1_10H, tick=False):
        job = job_create(
            created_by=owner,
            name="minutely",
            script="true",
            schedule={},
            catchup_policy=CatchupPolicy.SKIP,
        )
    now = DAY1_10H + timedelta(days=3)
    tick_run(now=now)
    skipped = runs_of(job)
    # the 201 most recent slots itemised, and one row at the first slot standing for the rest
    assert len(skipped) == 202
    assert skipped[0].scheduled_for == DAY1_10H + timedelta(minutes=1)
    assert skipped[0].error_message.startswith("missed: 4119 earlier missed slots not listed")
    assert 4119 + 201 == 3 * 24 * 60  # every slot of the three days, counted exactly
    assert skipped[-1].scheduled_for == now
    assert Job.objects.get(pk=job.pk).next_run_at == now + timedelta(minutes=1)


def test_it_leaves_overlap_to_run_enqueue(owner):  # A9: skip policy records the slot
    job = daily_noon(owner, overlap_policy=OverlapPolicy.SKIP)
    RunFactory(job=job, status=RunStatus.RUNNING, trigger_type=TriggerType.MANUAL)
    tick_run(now=NOON[0] + timedelta(seconds=1))
    (skipped,) = runs_of(job, scheduled_for=NOON[0])
    assert skipped.status == RunStatus.SKIPPED
    assert "still pending or running" in skipped.error_message


def test_it_keeps_going_when_one_job_is_broken(owner):
    broken = daily_noon(owner, name="broken", timezone="UTC")
    healthy = daily_noon(owner, name="healthy")
    Job.objects.filter(pk=broken.pk).update(timezone="Not/AZone")
    assert tick_run(now=NOON[0] + timedelta(seconds=1)) == 1
    assert len(runs_of(healthy)) == 1


def test_it_wakes_right_after_each_minute_boundary():
    assert next_minute(1_700_000_000.0) == 1_700_000_040.0
    assert next_minute(1_700_000_040.0) == 1_700_000_100.0
    assert next_minute(1_700_000_040.4) == 1_700_000_100.0


def test_it_beats_the_tick_heartbeat_only_while_ticks_succeed():
    tick = Tick()
    tick.beat(0.0)
    assert not WorkerHeartbeat.objects.filter(role="tick").exists()
    tick.run(NOON[0].timestamp())
    assert WorkerHeartbeat.objects.filter(role="tick").count() == 1
    names = [step.name for step in tick.steps()]
    assert names == ["tick", "tick-heartbeat"]


def test_it_clears_next_run_after_the_last_slot_of_a_schedule(owner):
    with time_machine.travel(DAY1_10H, tick=False):
        job = job_create(
            created_by=owner,
            name="once",
            script="true",
            schedule={"years": [2025], "months": [6], "days": [2], "hours": [12], "minutes": [0]},
        )
    assert tick_run(now=NOON[0] + timedelta(seconds=1)) == 1
    assert Job.objects.get(pk=job.pk).next_run_at is None


def test_it_ticks_once_from_the_command_line(owner):
    from io import StringIO

    from django.core.management import call_command

    job = daily_noon(owner)
    out = StringIO()
    with time_machine.travel(NOON[0] + timedelta(seconds=2), tick=False):
        call_command("tick", "--once", stdout=out)
    assert out.getvalue().strip() == "1 run(s) enqueued"
    assert len(runs_of(job)) == 1


def test_it_records_a_slot_as_skipped_when_the_bounded_queue_is_full(owner):  # A9: queue
    job = daily_noon(owner, overlap_policy=OverlapPolicy.QUEUE, max_queued=1)
    RunFactory(job=job, status=RunStatus.RUNNING, trigger_type=TriggerType.MANUAL)
    RunFactory(job=job, status=RunStatus.PENDING, trigger_type=TriggerType.MANUAL)
    tick_run(now=NOON[0] + timedelta(seconds=1))
    (slot_run,) = runs_of(job, scheduled_for=NOON[0])
    assert slot_run.status == RunStatus.SKIPPED
    assert "queue full" in slot_run.error_message
