"""Helpers for end-to-end engine tests: waiting on runs, finding a run's worker process."""

from __future__ import annotations

import psutil

from runs.models import Run, RunStatus
from tests.support.processes import wait_for


def wait_status(run: Run, statuses, timeout: float = 30) -> Run:
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)

    def reached():
        run.refresh_from_db()
        return run.status in statuses

    wait_for(reached, timeout, interval=0.1, message=f"run {run.pk} to be {statuses}")
    return run


def wait_running_with_output(run: Run, lines: int = 2, timeout: float = 30) -> Run:
    def started():
        run.refresh_from_db()
        return run.status == RunStatus.RUNNING and run.log_lines >= lines and run.pid

    wait_for(started, timeout, interval=0.05, message=f"run {run.pk} to print")
    return run


def worker_process(run: Run) -> psutil.Process:
    """The django-q2 worker executing `run`: the parent of the run's process group leader."""
    leader = psutil.Process(run.pid)
    worker = leader.parent()
    assert worker.pid == int(run.worker.rpartition(":")[2])
    return worker


def zombies_of(proc: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in proc.children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            continue
    return found
