"""A6: stopping `taskflow run` (SIGTERM) while a 60 s job runs never records it as a success:
it ends "interrupted" (a failure with the reason) and no process of the tree survives."""

import signal
import sys

import psutil
import pytest

from runs.models import Run, RunStatus, TriggerType
from runs.services import run_enqueue
from tests.factories import JobFactory
from tests.support.processes import free_port, processes_with_marker, wait_for


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_stopping_taskflow_during_a_long_job_records_it_as_interrupted(processes):
    job = JobFactory(script="echo started; sleep 60; echo done", timeout_seconds=120)
    argv = [sys.executable, "-m", "taskflow_site.cli", "run", "--port", str(free_port())]
    proc = processes.start("taskflow", argv)
    wait_for(
        lambda: "is ready" in processes.log_text("taskflow") or proc.poll() is not None,
        timeout=90,
        message="taskflow run to report ready",
    )
    run, _ = run_enqueue(job=job, trigger_type=TriggerType.MANUAL)
    wait_for(
        lambda: (
            Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).exists()
            and processes_with_marker("TASKFLOW_RUN_ID", str(run.pk))
        ),
        timeout=60,
        message="the job to start",
    )
    descendants = psutil.Process(proc.pid).children(recursive=True)

    proc.send_signal(signal.SIGTERM)

    assert proc.wait(30) == 0
    assert "Stopping TaskFlow (SIGTERM)" in processes.log_text("taskflow")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILURE
    assert "interrupted" in run.error_message
    assert processes_with_marker("TASKFLOW_RUN_ID", str(run.pk)) == []
    _, alive = psutil.wait_procs(descendants, timeout=5)
    assert alive == []
