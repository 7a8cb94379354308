"""`manage.py qcluster`: django-q2's cluster plus TaskFlow's loop (heartbeat, reconciler, tick).

Listed before django_q in INSTALLED_APPS, so this command replaces django-q2's own: the
card's deployment (`runserver` + `qcluster`) gets the minute tick too.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing.util
import os
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection

from runs.engine.drain import HANDOVER_SECONDS, HANDOVER_SIGNAL
from runs.engine.heartbeats import heartbeat_beat, heartbeat_forget
from runs.engine.process import die_with_parent
from runs.engine.reconciler import (
    DISPATCH_SECONDS,
    Dispatcher,
    drains_hand_over,
    drains_interrupt,
    reconcile_step,
)
from runs.engine.sentinel import sentinel_install
from runs.engine.tick import tick_steps
from runs.engine.wake import CLUSTER, WakeSocket
from runs.seams import cluster_steps_wanted
from taskflow_site.lib.dbcheck import log_database_pragmas
from taskflow_site.lib.diskfull import disk_full_report, is_disk_full
from taskflow_site.lib.steps import ClusterLoop, Step


def cluster_steps() -> list[Step]:
    """Every step the cluster loop runs, in order (reconciler before the tick)."""
    beat = settings.TASKFLOW["HEARTBEAT_SECONDS"]
    return [
        Step("heartbeat", lambda now: heartbeat_beat(role="cluster") or True, interval=beat),
        # lost runs -> failure "worker lost" + leftovers killed; dead drains forgotten
        Step("reconcile", reconcile_step, interval=settings.TASKFLOW["RECONCILE_SECONDS"]),
        # keep TASKFLOW workers' drain loops delivered (django-q2 only delivers)
        Step("dispatch", Dispatcher(), interval=DISPATCH_SECONDS, woken=True),
        *tick_steps(),  # due jobs -> runs right after each minute boundary; "tick" heartbeat
        # the apps above the engine: rollups and retention (metrics), pending deliveries
        # (notifications), in INSTALLED_APPS order
        *(step for _, steps in cluster_steps_wanted.send(sender=None) for step in steps),
    ]


READY_WAIT_SECONDS = 60.0


def _wait_for_a_drain(stop: threading.Event) -> None:
    """Ready means able to execute runs: a drain loop of this cluster has registered. A reload
    lets the old cluster go only then, so /health never loses its worker in between (record
    13). Bounded: on a machine too slow for that, ready is still said and /health tells."""
    dispatcher = Dispatcher()
    deadline = time.monotonic() + READY_WAIT_SECONDS
    while dispatcher.live() < 1 and time.monotonic() < deadline and not stop.is_set():
        dispatcher()
        stop.wait(0.05)


def _interrupt_late_drains(stopped: threading.Event) -> None:
    """While django-q2 stops, its workers finish their tasks: a drain that started late would
    linger there for its whole idle time, and the stop (a reload's handover) with it. A worker
    whose drain has returned gets these signals too, and ignores them (runs.tasks.run_drain)."""
    try:
        while not stopped.wait(0.5):
            with contextlib.suppress(DatabaseError):
                drains_interrupt()
    finally:
        connection.close()


def _die_with_parent(_command) -> None:
    die_with_parent(signal.SIGKILL)


class Command(BaseCommand):
    help = "Start the django-q2 cluster (executor workers) with the minute tick beside it."

    def add_arguments(self, parser):
        parser.add_argument(
            "--workers", type=int, default=None, help="Runs executed at once (default 1)"
        )
        parser.add_argument(
            "--ready-fd",
            type=int,
            default=None,
            help="Write 'ready' to this file descriptor once the cluster runs and has beaten",
        )

    def handle(self, *args, **options):
        from django_q.cluster import Cluster
        from django_q.conf import Conf

        if options["workers"]:
            Conf.WORKERS = options["workers"]
        stop = threading.Event()
        handover = threading.Event()
        wake = None  # bound once the cluster has forked (its processes need no copy)

        def stop_loop(*_):
            stop.set()
            if wake is not None:  # the loop sleeps on it
                wake.nudge()

        # django-q2 forks its Sentinel here, and the Sentinel its workers (its pusher and monitor
        # are threads of it: runs/engine/sentinel.py): each dies with the process that forked it,
        # even by SIGKILL, so none outlives this cluster (docs/architecture.md, record 13)
        multiprocessing.util.register_after_fork(self, _die_with_parent)
        sentinel_install()
        cluster = Cluster()
        # Cluster.__init__ installs handlers that stop only the Sentinel; ours stop the loop
        # too, and the loop stops the Sentinel on its way out. HANDOVER_SIGNAL: a new cluster
        # takes over (the supervisor's reload): finish the runs we hold, take nothing new.
        signal.signal(signal.SIGTERM, stop_loop)
        signal.signal(signal.SIGINT, stop_loop)
        signal.signal(HANDOVER_SIGNAL, lambda *_: handover.set() or stop_loop())
        # forked below: what is loaded now stays shared with the Sentinel, pusher, monitor and
        # workers instead of being copied into each by the collector's writes (issue 14)
        gc.collect()
        gc.freeze()
        cluster.start()
        # drains that retire or end wake the loop's dispatcher through this (and a stop does)
        wake = WakeSocket(CLUSTER)
        log_database_pragmas("cluster")  # every process reports WAL/foreign keys/busy timeout
        if options["ready_fd"] is not None:  # a reload waits for this before the old one goes
            heartbeat_beat(role="cluster")
            _wait_for_a_drain(stop)
            with contextlib.suppress(OSError):
                os.write(options["ready_fd"], b"ready\n")
                os.close(options["ready_fd"])
        loop = ClusterLoop(cluster_steps(), stop_event=stop, wake=wake)
        try:
            loop.run_forever()
        finally:
            if handover.is_set():
                drains_hand_over(stop_deliveries=cluster.stop_event.set, bound=HANDOVER_SECONDS)
            drains_interrupt()  # running runs end as "interrupted", drains return at once
            # a drain the pusher delivered just before django-q2 stopped taking deliveries
            # starts after that: it is interrupted too, until the cluster's stop returns
            stopped = threading.Event()
            threading.Thread(target=_interrupt_late_drains, args=(stopped,), daemon=True).start()
            cluster.stop()
            stopped.set()
            wake.close()
            try:
                heartbeat_forget(role="cluster")
            except DatabaseError as exc:  # stopped on a full disk: the row goes stale instead
                if not is_disk_full(exc):
                    raise
                disk_full_report("cluster stop")
