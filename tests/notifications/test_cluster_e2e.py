"""End to end with the real cluster (A2): the worker running attempt 1 is killed with -9,
the reconciler fails it and queues attempt 2, which fails too; exactly one mail goes out,
for the final state, from the worker process."""

from __future__ import annotations

import os
import signal

import pytest

from jobs.models import NotifyOn
from notifications.models import DeliveryStatus, Notification
from runs.models import Run, RunStatus
from runs.services import run_enqueue
from tests.factories import JobFactory
from tests.support.processes import child_env, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_killed_worker_and_a_retry_give_one_mail(processes, smtp_configured, owner, tmp_path):
    flag = tmp_path / "first-attempt-started"
    job = JobFactory(
        name="killed-then-failed",
        created_by=owner,
        script=f"if [ -e {flag} ]; then echo second; exit 5; fi; touch {flag}; sleep 30",
        retry_count=1,
        retry_delay_seconds=0,
        notify_on=NotifyOn.FAILURE,
        notify_emails="ops@example.com",
    )
    env = child_env(
        TASKFLOW_STALE_AFTER_SECONDS="3",
        TASKFLOW_HEARTBEAT_SECONDS="0.5",
        TASKFLOW_RECONCILE_SECONDS="1",
    )
    processes.manage("qcluster", "qcluster", env=env)
    first, _ = run_enqueue(job=job, trigger_type="manual")

    wait_for(flag.exists, timeout=60, message="attempt 1 to start")
    first.refresh_from_db()
    worker_pid = int(first.worker.rsplit(":", 1)[1])
    os.kill(worker_pid, signal.SIGKILL)

    def final_run():
        return Run.objects.filter(parent=first, status__in=RunStatus.finished()).first()

    retry = wait_for(final_run, timeout=90, message="attempt 2 to finish")
    wait_for(
        lambda: Notification.objects.filter(status=DeliveryStatus.SENT).exists(),
        timeout=30,
        message="the mail",
    )

    first.refresh_from_db()
    assert first.status == RunStatus.FAILURE
    assert retry.status == RunStatus.FAILURE and retry.exit_code == 5
    assert Run.objects.filter(job=job).count() == 2
    # rows are planned before delivery: one row for the final attempt, none for attempt 1
    assert list(Notification.objects.values_list("run_id", flat=True)) == [retry.pk]
    assert len(smtp_configured.messages) == 1
    assert "killed-then-failed: FAILURE" in smtp_configured.messages[0]
