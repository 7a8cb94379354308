"""Nothing outlives its supervisor: a cluster killed with SIGKILL takes its whole tree (django-q2's
Sentinel, its workers, the run they held) down with it, and the next TaskFlow's runs are
executed by its own workers only (docs/architecture.md, record 13)."""

import psutil
import pytest

from runs.models import RunStatus, TriggerType
from runs.services import run_enqueue
from tests.factories import JobFactory
from tests.operations.taskflow import TaskFlow, leftover_locks, processes_with_env
from tests.runs.e2e import wait_running_with_output, wait_status
from tests.support.processes import processes_with_marker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def command_of(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def test_a_cluster_killed_with_sigkill_leaves_no_process_and_no_run_behind(short_tmp, processes):
    data = short_tmp / "data"
    first = TaskFlow(processes, data, "first").start()
    job = JobFactory(script="echo started; sleep 120; echo done", timeout_seconds=300)
    held, _ = run_enqueue(job=job, trigger_type=TriggerType.MANUAL)
    wait_running_with_output(held, lines=1, timeout=60)
    tree = first.tree()
    cluster_processes = [proc for proc in tree if "qcluster" in command_of(proc)]
    assert len(cluster_processes) >= 3  # the cluster, its Sentinel, workers...

    first.child("qcluster").kill()

    assert first.proc.wait(60) == 1
    assert "the cluster process exited with code -9" in first.log()
    assert first.log().rstrip().endswith("TaskFlow stopped.")
    _, alive = psutil.wait_procs(tree, timeout=5)
    assert alive == []
    # every process that carried this TaskFlow's settings, and every process of the run
    assert processes_with_env("TASKFLOW_DATA_DIR", str(data)) == []
    assert processes_with_marker("TASKFLOW_RUN_ID", str(held.pk)) == []

    second = TaskFlow(processes, data, "second").start()
    held = wait_status(held, RunStatus.FAILURE, timeout=60)
    assert "worker lost" in held.error_message or "interrupted" in held.error_message
    quick = JobFactory(script="echo fine", timeout_seconds=60)
    runs = [run_enqueue(job=quick, trigger_type=TriggerType.MANUAL)[0] for _ in range(4)]
    for run in runs:
        wait_status(run, RunStatus.SUCCESS, timeout=60)
    ours = second.pids()  # drains linger after their runs: still alive
    for run in runs:
        assert int(run.worker.rpartition(":")[2]) in ours, (run.worker, ours)
    assert leftover_locks(data, live_pids=ours) == []  # the killed cluster's were swept
    assert second.stop() == 0
    assert processes_with_env("TASKFLOW_DATA_DIR", str(data)) == []
