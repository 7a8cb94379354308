"""Restart without downtime: `taskflow restart` (SIGHUP to the supervisor) replaces the web
process and the cluster while the supervisor's socket keeps accepting. A client polling /health
and the API every 100 ms across it sees no refused connection and no error, and a job running
during it finishes `success` on the old cluster, which takes nothing new meanwhile."""

from __future__ import annotations

import subprocess
import threading
import urllib.error
import urllib.request

import psutil
import pytest
from django.conf import settings

from accounts.services import token_pair_for
from runs.engine.drain import HANDOVER_SIGNAL
from runs.models import RunStatus, TriggerType
from runs.services import run_enqueue
from taskflow_site.cli import supervisor
from tests.factories import JobFactory, UserFactory
from tests.operations.taskflow import TaskFlow
from tests.runs.e2e import wait_running_with_output, wait_status
from tests.support.processes import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POLL_EVERY = 0.1
# the API allows 100 requests a minute per user: the poller takes turns among several users
POLLING_USERS = 8


class Poller(threading.Thread):
    """GET /health and GET /api/jobs every POLL_EVERY seconds, each on a new connection,
    recording every failure (refused, reset, timeout, a status other than 200)."""

    def __init__(self, base_url: str, tokens: list[str]):
        super().__init__(daemon=True)
        self.base_url = base_url
        self.tokens = tokens
        self.stopping = threading.Event()
        self.answered = 0
        self.failures: list[str] = []

    def get(self, path: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.base_url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                if response.status != 200:
                    self.failures.append(f"{path}: HTTP {response.status}")
                    return
        except urllib.error.HTTPError as exc:
            self.failures.append(f"{path}: HTTP {exc.code} {exc.read()[:200]!r}")
            return
        except OSError as exc:
            self.failures.append(f"{path}: {exc!r}")
            return
        self.answered += 1

    def run(self) -> None:
        turn = 0
        while not self.stopping.is_set():
            self.get("/health")
            self.get("/api/jobs", self.tokens[turn % len(self.tokens)])
            turn += 1
            self.stopping.wait(POLL_EVERY)


def children_named(taskflow: TaskFlow, marker: str) -> set[int]:
    found = set()
    for proc in psutil.Process(taskflow.proc.pid).children():
        try:
            if any(marker in part for part in proc.cmdline()):
                found.add(proc.pid)
        except psutil.Error:
            continue
    return found


def test_a_restart_refuses_nothing_and_interrupts_no_job(short_tmp, processes, tmp_path):
    # the tokens below are signed here: TaskFlow must share this process's secrets
    taskflow = TaskFlow(
        processes,
        short_tmp / "data",
        TASKFLOW_JWT_SECRET=settings.JWT_SECRET,
        TASKFLOW_SECRET_KEY=settings.SECRET_KEY,
    ).start()
    release = tmp_path / "release"
    job = JobFactory(
        script=f"echo started; while [ ! -e {release} ]; do sleep 0.05; done; echo finished",
        timeout_seconds=600,
    )
    held, _ = run_enqueue(job=job, trigger_type=TriggerType.MANUAL)
    wait_running_with_output(held, lines=1, timeout=60)
    old_web = children_named(taskflow, "taskflow_site.cli.web")
    old_cluster = children_named(taskflow, "qcluster")
    users = [UserFactory() for _ in range(POLLING_USERS)]
    poller = Poller(taskflow.url, [token_pair_for(user)["access"] for user in users])
    poller.start()
    wait_for(lambda: poller.answered >= 4, timeout=60, message="the poller to get answers")

    restarted = subprocess.run(
        [*taskflow.argv("restart")], env=taskflow.env, capture_output=True, text=True, timeout=180
    )

    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "TaskFlow restarted" in restarted.stdout
    # the old web process has handed over and gone; the old cluster still holds the job
    wait_for(
        lambda: not any(psutil.pid_exists(pid) for pid in old_web),
        timeout=60,
        message="the old web process to finish",
    )
    assert children_named(taskflow, "taskflow_site.cli.web").isdisjoint(old_web)
    assert old_cluster <= children_named(taskflow, "qcluster")  # handing over: still there
    answered_after_restart = poller.answered
    wait_for(lambda: poller.answered >= answered_after_restart + 4, timeout=60)

    release.touch()
    held = wait_status(held, {RunStatus.SUCCESS, RunStatus.FAILURE}, timeout=120)
    assert held.status == RunStatus.SUCCESS, held.error_message
    taskflow.wait_log("the previous cluster process", timeout=120)
    # a run queued now is executed by the new cluster
    after, _ = run_enqueue(job=JobFactory(script="echo new"), trigger_type=TriggerType.MANUAL)
    after = wait_status(after, RunStatus.SUCCESS, timeout=120)
    assert int(after.worker.rpartition(":")[2]) in taskflow.pids()
    assert int(held.worker.rpartition(":")[2]) not in taskflow.pids()

    poller.stopping.set()
    poller.join(60)
    assert poller.failures == []
    assert poller.answered > answered_after_restart
    assert "Traceback" not in taskflow.log(), taskflow.log()
    assert taskflow.stop() == 0


def test_the_supervisor_sends_the_signal_the_cluster_hands_over_on():
    assert supervisor.HANDOVER_SIGNAL == HANDOVER_SIGNAL
