"""A real `manage.py qcluster` for end-to-end engine tests, with short engine timings."""

from __future__ import annotations

import pytest

from tests.support.processes import child_env, wait_for

FAST = {
    "TASKFLOW_HEARTBEAT_SECONDS": "0.5",
    "TASKFLOW_STALE_AFTER_SECONDS": "4",
    "TASKFLOW_RECONCILE_SECONDS": "1",
    "TASKFLOW_KILL_GRACE_SECONDS": "2",
    "TASKFLOW_LOG_LEVEL": "info",
}


class Cluster:
    def __init__(self, processes):
        self.processes = processes
        self.proc = None

    def start(self, name: str = "qcluster", workers: int = 1, **env: str):
        self.proc = self.processes.manage(
            name, "qcluster", "--workers", str(workers), env=child_env(**FAST, **env)
        )
        self.wait_ready()
        return self.proc

    def wait_ready(self, timeout: float = 90) -> None:
        from runs.models import WorkerHeartbeat

        def drain_alive():
            assert self.proc.poll() is None, self.log()
            return WorkerHeartbeat.objects.filter(role="worker", retired_at=None).exists()

        wait_for(drain_alive, timeout, message="a drain loop of the cluster")

    def log(self, name: str = "qcluster") -> str:
        return self.processes.log_text(name)


@pytest.fixture
def cluster(processes):
    return Cluster(processes)
