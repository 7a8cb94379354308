"""A worker killed under a run (A1, A2, A8): the run ends "worker lost", its processes are
gone, retries are honoured, nothing runs twice, new runs keep flowing."""

from __future__ import annotations

import signal

import pytest

from notifications.models import Notification
from runs.models import Run, RunStatus
from runs.services import run_enqueue
from tests.factories import JobFactory
from tests.runs.e2e import wait_running_with_output, wait_status, worker_process
from tests.runs.helpers import leftovers, lines

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_it_fails_a_run_whose_worker_was_killed(cluster):  # A1
    cluster.start()
    job = JobFactory(script="echo begin; sleep 30; echo done")
    run, _ = run_enqueue(job=job, trigger_type="manual")
    wait_running_with_output(run)
    worker_process(run).send_signal(signal.SIGKILL)
    wait_status(run, RunStatus.FAILURE, timeout=20)
    assert run.error_message == "worker lost"
    assert not leftovers(run)
    # the cluster keeps going: a new run executes; the lost one never runs again
    after, _ = run_enqueue(job=JobFactory(script="echo next"), trigger_type="manual")
    wait_status(after, RunStatus.SUCCESS, timeout=40)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILURE
    assert "done" not in lines(run)
    assert Run.objects.filter(job=job).count() == 1


def test_it_retries_a_lost_run_once_and_notifies_once(cluster, tmp_path):  # A2
    cluster.start()
    flag = tmp_path / "first-attempt"
    job = JobFactory(
        script=f"[ -e {flag} ] && {{ echo second; exit 0; }}\ntouch {flag}; echo first; sleep 30",
        retry_count=1,
        retry_delay_seconds=0,
        notify_on="always",
        notify_emails="ops@example.com",
    )
    run, _ = run_enqueue(job=job, trigger_type="manual")
    wait_running_with_output(run)
    worker_process(run).send_signal(signal.SIGKILL)
    wait_status(run, RunStatus.FAILURE, timeout=20)
    retry = Run.objects.get(parent=run)
    wait_status(retry, RunStatus.SUCCESS, timeout=40)
    assert retry.attempt == 2
    assert "second" in lines(retry)
    assert Run.objects.filter(job=job).count() == 2
    assert not leftovers(run)
    notified = Notification.objects.filter(job=job)
    assert [note.run_id for note in notified] == [retry.pk]


def test_it_survives_a_worker_dying_by_sigsegv(cluster):  # A8
    cluster.start()
    job = JobFactory(script="echo begin; sleep 30", retry_count=1, retry_delay_seconds=0)
    run, _ = run_enqueue(job=job, trigger_type="manual")
    wait_running_with_output(run)
    worker_process(run).send_signal(signal.SIGSEGV)
    wait_status(run, RunStatus.FAILURE, timeout=20)
    assert run.error_message == "worker lost"
    retry = Run.objects.get(parent=run)
    wait_status(retry, RunStatus.RUNNING, timeout=30)  # retries are honoured
    fresh, _ = run_enqueue(job=JobFactory(script="echo fresh"), trigger_type="manual")
    from runs.services import run_cancel

    run_cancel(run=retry)
    wait_status(fresh, RunStatus.SUCCESS, timeout=30)  # new runs keep flowing
    wait_status(retry, RunStatus.CANCELLED, timeout=10)
    assert not leftovers(run) and not leftovers(retry)
