"""Delivery through the real cluster: duplicates run nothing twice (A3), start-up recovery
(A7), many runs in a row (C3), a worker killed mid-stream keeps what it printed (C8)."""

from __future__ import annotations

import os
import signal
import socket
import time
from datetime import timedelta

import psutil
import pytest
from django.utils import timezone

from runs.models import Run, RunStatus
from runs.services import run_enqueue, run_enqueue_task, run_log_lines
from runs.spec import RunSpec
from tests.factories import JobFactory, RunFactory
from tests.runs.e2e import wait_running_with_output, wait_status, worker_process, zombies_of
from tests.runs.helpers import leftovers, lines
from tests.support.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_it_runs_a_task_delivered_twice_only_once(cluster, tmp_path):  # A3
    from django_q.tasks import async_task

    cluster.start(workers=2)
    out = tmp_path / "ran"
    run, _ = run_enqueue(
        job=JobFactory(script=f"echo once >> {out}; sleep 1"), trigger_type="manual"
    )
    async_task("runs.tasks.run_drain", 0)  # two more deliveries of the same work
    async_task("runs.tasks.run_drain", 0)
    wait_status(run, RunStatus.SUCCESS, timeout=30)
    time.sleep(1.5)  # give the extra deliveries time to (not) run it again
    assert out.read_text() == "once\n"
    assert Run.objects.count() == 1


def test_it_recovers_stale_running_rows_at_start_up_and_runs_pending_once(cluster, tmp_path):  # A7
    host = socket.gethostname()
    old = timezone.now() - timedelta(minutes=10)
    dead_here = RunFactory(status=RunStatus.RUNNING, worker=f"{host}:999999", heartbeat_at=old)
    elsewhere = RunFactory(status=RunStatus.RUNNING, worker="other-host:12", heartbeat_at=old)
    out = tmp_path / "ran"
    job = JobFactory(script=f'echo "$TASKFLOW_RUN_ID" >> {out}', max_queued=50)
    pending = [run_enqueue(job=job, trigger_type="manual")[0] for _ in range(5)]
    started = time.monotonic()
    cluster.start()
    for stale in (dead_here, elsewhere):
        wait_status(stale, RunStatus.FAILURE, timeout=10)
        assert stale.error_message == "worker lost"
    assert time.monotonic() - started < 100
    for run in pending:
        wait_status(run, RunStatus.SUCCESS, timeout=30)
    assert sorted(out.read_text().split()) == sorted(str(run.pk) for run in pending)


def test_it_runs_a_thousand_trivial_runs_without_leaking(cluster):  # C3
    cluster.start()
    runs = [run_enqueue_task(spec=RunSpec(kind="shell", script="true"))[0] for _ in range(50)]
    wait_for(lambda: not Run.objects.filter(status__in=["pending", "running"]).exists(), 60, 0.2)
    worker = psutil.Process(int(Run.objects.get(pk=runs[-1].pk).worker.rpartition(":")[2]))
    fds_before = worker.num_fds()
    for _ in range(950):
        run_enqueue_task(spec=RunSpec(kind="shell", script="true"))
    wait_for(lambda: not Run.objects.filter(status__in=["pending", "running"]).exists(), 240, 0.5)
    assert Run.objects.filter(status=RunStatus.SUCCESS).count() == 1000
    assert worker.num_fds() <= fds_before + 2
    assert not zombies_of(psutil.Process(cluster.proc.pid))


def test_it_keeps_lines_printed_before_the_worker_was_killed(cluster):  # C8
    cluster.start()
    script = 'for i in $(seq 1 100000); do echo "line $i $EPOCHREALTIME"; sleep 0.01; done'
    run, _ = run_enqueue(job=JobFactory(script=script), trigger_type="manual")
    wait_running_with_output(run, lines=100)
    time.sleep(1)
    killed_at = time.time()
    worker_process(run).send_signal(signal.SIGKILL)
    wait_status(run, RunStatus.FAILURE, timeout=20)
    stored = run_log_lines(run=run, limit=10**6)
    assert [line.number for line in stored] == list(range(1, len(stored) + 1))
    printed = [line.content.split() for line in stored if line.stream == "stdout"]
    assert [int(parts[1]) for parts in printed] == list(range(1, len(printed) + 1))
    assert float(printed[-1][2]) >= killed_at - 1.0  # nothing older than 1 s was lost
    k = len(stored) // 2
    again = run_log_lines(run=run, after=k, limit=10**6)
    assert [line.number for line in again] == list(range(k + 1, len(stored) + 1))
    assert not leftovers(run)


def test_it_interrupts_a_run_on_graceful_stop_and_retries_after_restart(cluster, tmp_path):  # A6
    flag = tmp_path / "first-attempt"
    job = JobFactory(
        script=f"[ -e {flag} ] && {{ echo again; exit 0; }}\ntouch {flag}; echo begin; sleep 60",
        retry_count=1,
        retry_delay_seconds=0,
    )
    proc = cluster.start()
    run, _ = run_enqueue(job=job, trigger_type="manual")
    wait_running_with_output(run)
    tree = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILURE
    assert run.error_message == "interrupted: TaskFlow stopped"
    assert "begin" in lines(run)
    assert not leftovers(run)
    assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    retry = Run.objects.get(parent=run)
    assert retry.status == RunStatus.PENDING  # queued by policy, never silently gone
    cluster.start(name="qcluster-restarted")
    wait_status(retry, RunStatus.SUCCESS, timeout=30)
    assert "again" in lines(retry)
    assert os.path.exists(flag)
