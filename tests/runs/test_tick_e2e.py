"""End to end with the real processes: a qcluster's minute tick fires a job due in the next
minute and the engine starts its process; beside it a second scheduler (`manage.py tick`)
ticks against the same database, and every (job, slot) still gets exactly one run (B8)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import Job
from jobs.services import job_create
from runs.models import Run, RunStatus, TriggerType, WorkerHeartbeat
from runs.services import run_log_lines
from tests.support.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SLOTS = 2  # minute boundaries watched; the test takes about SLOTS + 1 minutes


def every_minute(owner, name: str, **fields) -> Job:
    return job_create(
        created_by=owner, name=name, script=f"echo fired-{name}", schedule={}, **fields
    )


def test_two_schedulers_fire_each_slot_exactly_once_and_the_engine_runs_it(processes, owner):
    jobs = [every_minute(owner, f"minutely{index}") for index in range(3)]
    disabled = every_minute(owner, "disabled", enabled=False)
    in_two_hours = datetime.now(UTC) + timedelta(hours=2)
    later = job_create(
        created_by=owner,
        name="later",
        script="true",
        schedule={"hours": [in_two_hours.hour], "minutes": [in_two_hours.minute]},
    )
    first_slot = jobs[0].next_run_at
    slots = [first_slot + timedelta(minutes=index) for index in range(SLOTS)]

    processes.manage("qcluster", "qcluster")
    processes.manage("tick", "tick")  # a second scheduler on the same database

    wait_for(
        lambda: WorkerHeartbeat.objects.filter(role="tick").count() == 2,
        timeout=60,
        message="both schedulers to tick once",
    )
    for slot in slots:
        remaining = (slot - datetime.now(UTC)).total_seconds()
        wait_for(
            lambda slot=slot: (
                Run.objects.filter(job__in=jobs, scheduled_for=slot).count() == len(jobs)
            ),
            timeout=max(0, remaining) + 30,
            message=f"runs for the slot {slot:%H:%M}",
        )
    time.sleep(2)  # a late duplicate from the second scheduler would land by now

    for job in jobs:
        runs = list(Run.objects.filter(job=job).order_by("scheduled_for"))
        fired = [run.scheduled_for for run in runs if run.scheduled_for <= slots[-1]]
        assert fired == slots, (job.name, [run.scheduled_for for run in runs])
        assert {run.trigger_type for run in runs} == {TriggerType.SCHEDULED}
    assert not Run.objects.filter(job=disabled).exists()
    assert not Run.objects.filter(job=later).exists()

    # the engine started each process (bash printed its line), soon after the boundary
    def finished():
        runs = Run.objects.filter(job__in=jobs, scheduled_for__in=slots)
        return all(run.status in RunStatus.finished() for run in runs)

    wait_for(finished, timeout=60, message="the scheduled runs to finish")
    for run in Run.objects.filter(job__in=jobs, scheduled_for__in=slots).select_related("job"):
        assert run.status == RunStatus.SUCCESS, (run.status, run.error_message)
        lines = [line.content for line in run_log_lines(run=run)]
        assert f"fired-{run.job.name}" in lines
        assert run.started_at - run.scheduled_for < timedelta(seconds=10)
    assert Job.objects.get(pk=jobs[0].pk).next_run_at > slots[-1]
