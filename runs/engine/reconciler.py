"""Cluster steps of the engine: `reconcile` (lost runs, dead drains) and `dispatch` (keep
TASKFLOW workers' drain loops delivered through django-q2).

Both run in the `qcluster` process beside django-q2's Sentinel
(taskflow_site.lib.steps.ClusterLoop).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from datetime import timedelta

import psutil
from django.conf import settings
from django.utils import timezone

from runs.engine import process
from runs.engine.claim import FINISH_FIELDS, run_mark_lost, run_timeout
from runs.engine.drain import HANDOVER_SIGNAL
from runs.engine.heartbeats import executor_holds, executor_lock_dir
from runs.models import Run, RunStatus, WorkerHeartbeat, WorkerRole

logger = logging.getLogger("taskflow.reconciler")

# a drain that retires or ends wakes the dispatcher (wake_cluster), and so does a worker
# django-q2 replaces; this look covers a lost wake-up
DISPATCH_SECONDS = 10.0
DISPATCH_IN_FLIGHT_SECONDS = 10.0  # a delivered drain starts well within this


def _local_pid(worker: str) -> int | None:
    """The pid in "host:pid" when host is this machine."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return int(pid)


def _process_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def _executor_alive(run: Run, beat, now) -> bool:
    """Does the local executor still hold the run (its process's lock names it, see
    process.WorkerLock)? Past the run's own timeout + grace + staleness it counts as hung and
    is not trusted."""

    conf = settings.TASKFLOW
    limit = run_timeout(run) + conf["KILL_GRACE_SECONDS"] + conf["STALE_AFTER_SECONDS"]
    if beat is not None and beat < now - timedelta(seconds=limit):
        return False
    return executor_holds(run.worker, run.pk)


def reconcile_step(now_ts: float | None = None) -> bool:
    """Running runs whose executor is gone -> failure "worker lost" (+ retry by policy) and
    their leftover processes killed; dead/stale drain heartbeats deleted."""

    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.TASKFLOW["STALE_AFTER_SECONDS"])
    did = False
    running = Run.objects.filter(status=RunStatus.RUNNING).only(
        *FINISH_FIELDS, "worker", "pid", "heartbeat_at", "started_at"
    )
    for run in running:
        beat = run.heartbeat_at or run.started_at
        worker_pid = _local_pid(run.worker)
        dead = worker_pid is not None and _process_gone(worker_pid)
        if not dead and beat is not None and beat >= stale_before:
            continue
        if not dead and worker_pid is not None and _executor_alive(run, beat, now):
            continue  # alive but not writing (busy machine, long write lock): not lost
        if worker_pid is not None or not run.worker:
            # first the leftovers, then the status: a retry must never overlap them
            killed = process.kill_run_processes(str(run.pk), run.pid, grace=1.0)
            if killed:
                logger.warning(
                    "run %s: killed %d leftover process(es): %s",
                    run.pk,
                    len(killed),
                    process.describe(killed),
                )
        run_mark_lost(run=run, reason="worker lost")
        did = True
    locks_sweep()
    host = socket.gethostname()
    for beat in WorkerHeartbeat.objects.filter(role=WorkerRole.WORKER):
        if beat.heartbeat_at < stale_before - timedelta(minutes=5) or (
            beat.hostname == host and _process_gone(beat.pid)
        ):
            beat.delete()
            did = True
    return did


def locks_sweep() -> int:
    """Remove this host's executor lock files that no live process holds (a process that
    executed runs has died; older versions' per-run files too); returns how many."""
    directory = executor_lock_dir()
    try:
        names = [name for name in os.listdir(directory) if name.endswith(process.LOCK_SUFFIX)]
    except OSError:
        return 0
    return sum(process.lock_discard(os.path.join(directory, name)) for name in names)


class Dispatcher:
    """Keeps `workers` drain loops alive (they linger waiting for wake-ups, so a manual trigger
    starts in milliseconds); queues one more when a drain retired or died."""

    def __init__(self):
        self.last_enqueue = 0.0

    def wanted(self) -> int:
        try:
            from django_q.conf import Conf

            return int(Conf.WORKERS or settings.TASKFLOW["WORKERS"])
        except Exception:
            return settings.TASKFLOW["WORKERS"]

    def live(self) -> int:
        """This cluster's fresh drain loops (its workers' pids) that are not retired, or retired
        but still executing a run. Other hosts and a cluster handing over to us keep their own
        count: each delivers to its own queue, and a replaced cluster's drains only finish."""
        fresh_after = timezone.now() - timedelta(seconds=settings.TASKFLOW["STALE_AFTER_SECONDS"])
        rows = WorkerHeartbeat.objects.filter(
            role=WorkerRole.WORKER, heartbeat_at__gte=fresh_after, hostname=socket.gethostname()
        ).values_list("retired_at", "hostname", "pid")
        mine = {os.getpid(), *process.own_descendants()}
        live = 0
        for retired, hostname, pid in rows:
            if pid not in mine:
                continue
            if (
                retired is None
                or Run.objects.filter(status=RunStatus.RUNNING, worker=f"{hostname}:{pid}").exists()
            ):
                live += 1
        return live

    def __call__(self, now_ts: float | None = None) -> bool:
        if time.monotonic() - self.last_enqueue < DISPATCH_IN_FLIGHT_SECONDS:
            return False
        missing = self.wanted() - self.live()
        if missing <= 0:
            return False
        from django_q.brokers import get_broker
        from django_q.tasks import async_task

        if get_broker().queue_size():
            return False  # a delivery is already waiting for a worker
        for _ in range(missing):
            async_task("runs.tasks.run_drain", q_options={"task_name": "drain"})
        self.last_enqueue = time.monotonic()
        return True


def _our_drains(*, busy_only: bool) -> list[WorkerHeartbeat]:
    """Heartbeats of the drain loops that are children of this process (this cluster)."""
    children = process.own_descendants()
    beats = WorkerHeartbeat.objects.filter(role=WorkerRole.WORKER, hostname=socket.gethostname())
    if busy_only:
        beats = beats.filter(retired_at__isnull=True)
    return [beat for beat in beats if beat.pid in children]


def drains_hand_over(*, stop_deliveries, bound: float) -> bool:
    """Cluster replacement (the supervisor's reload): django-q2 takes no new delivery, and each
    of our drains finishes the run it holds, takes nothing new and returns. Waits until none of
    our drains holds a run, at most `bound` seconds; False when some still do (the caller then
    interrupts them, as on a stop)."""
    stop_deliveries()
    host = socket.gethostname()
    deadline = time.monotonic() + bound
    while True:
        # again each round: a delivery the pusher handed out just before stopping
        for beat in _our_drains(busy_only=True):
            with contextlib.suppress(ProcessLookupError):
                os.kill(beat.pid, HANDOVER_SIGNAL)
        workers = [f"{host}:{beat.pid}" for beat in _our_drains(busy_only=False)]
        if not Run.objects.filter(status=RunStatus.RUNNING, worker__in=workers).exists():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def drains_interrupt() -> int:
    """SIGTERM this host's drain loops that are children of this process (cluster stop): each
    stops its run as "interrupted" and returns, so django-q2's stop does not wait for them."""
    me = psutil.Process()
    children = {proc.pid for proc in me.children(recursive=True)}
    host = socket.gethostname()
    sent = 0
    for beat in WorkerHeartbeat.objects.filter(role=WorkerRole.WORKER, hostname=host):
        if beat.pid in children:
            try:
                os.kill(beat.pid, signal.SIGTERM)
                sent += 1
            except ProcessLookupError:
                continue
    return sent
