"""django-q2's cluster made cheap at idle (issue 14): its Sentinel runs the pusher and the
monitor as threads of its own, and its ORM broker's pusher sleeps until a delivery is queued.

django-q2 forks its Sentinel from the cluster process, and from the Sentinel the workers, a
pusher (moves deliveries from the broker to the workers' queue) and a monitor (saves what the
workers return). The pusher and the monitor spend their lives waiting, on the broker's poll and
on the result queue; as processes each paid for its own copy of every page of the shared image
it touched (CPython writes reference counts into the objects it uses): ~10 and ~4 MiB of the
idle footprint. As threads of the Sentinel they share its pages. No setting of django-q2 does
this (`Sentinel.spawn_cluster` always forks them), so this subclass does, and
`runs/management/commands/qcluster.py` makes it the Sentinel the cluster starts.

Everything else is django-q2's own: the guard loop replaces a pusher or monitor that died (a
Thread answers `is_alive()` as a Process does), the stop sets the pusher's event and waits for
it, poisons the workers, then stops the monitor with "STOP" on the result queue. Workers stay
processes, forked before the threads start (`spawn_cluster` spawns them first); a worker the
guard replaces later is forked beside the two threads, which is safe because the child uses
nothing they hold: multiprocessing's queues reset their thread-side state after a fork, logging
re-creates its locks, and Django's connections are per thread (the Sentinel closes its own
before forking).

The ORM broker (the queue when no Redis is configured) polled its table once a second, ~2 ms of
CPU each time, 0.2 % of a core for nothing. `OrmBroker` waits on a wake socket instead
(runs/engine/wake.py): an enqueue sends a byte once its row is committed, and the pusher reads
the table at once; without one it still looks every PUSHER_IDLE_SECONDS. Settings set
django-q2's own `poll` to 0, so the library's dequeue returns at once and the wait is ours.
"""

from __future__ import annotations

import os
import select
import threading

import django_q.cluster
from django.db import connections, transaction
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.monitor import monitor
from django_q.pusher import pusher
from django_q.queues import Queue

from runs.engine.wake import PUSHER, WakeSocket, wake_cluster, wake_pusher

PUSHER_IDLE_SECONDS = 10.0  # the pusher's own look at its queue, should a wake-up be lost


def _closing(loop, broker):
    """The loop, then what its thread held closed: its database connections and the broker's
    wake socket (a process closed them by exiting)."""

    def run(*args):
        try:
            loop(*args)
        finally:
            connections.close_all()
            if loop is pusher and isinstance(broker, OrmBroker):
                broker.close()

    return run


class _Loop(threading.Thread):
    """A thread where django-q2 expects a Process: its status (django_q.status.Stat) records
    a pid for the pusher and the monitor, here the Sentinel's."""

    @property
    def pid(self) -> int:
        return os.getpid()


class _ResultQueue(Queue):
    """The result queue, read by the monitor thread in the process that also closes it: django-q2's
    stop puts "STOP" and closes the queue, whose feeder thread then closes the reading end under
    the monitor (a process had its own). Closing waits for the monitor to have read "STOP"."""

    reader: threading.Thread | None = None
    wait_seconds: float = 30.0

    def close(self):
        if self.reader is not None and self.reader is not threading.current_thread():
            self.reader.join(self.wait_seconds)
        super().close()


class Sentinel(django_q.cluster.Sentinel):
    def start(self):
        # before anything is forked: the workers inherit this queue
        self.result_queue = _ResultQueue()
        self.result_queue.wait_seconds = self.timeout or 30.0
        super().start()

    def stop(self):
        self.event_out.set()  # the pusher's loop ends after its wait: cut that short
        wake = self.broker.wake if isinstance(self.broker, OrmBroker) else None
        if wake is not None:  # (a pusher that has just ended closed it: nudge() then no-ops)
            wake.nudge()
        super().stop()

    def reincarnate(self, process):
        super().reincarnate(process)
        wake_cluster()  # a worker died, with the drain it ran: the dispatcher replaces it now

    def spawn_pusher(self) -> _Loop:
        if isinstance(self.broker, OrmBroker):  # the cluster process, which queues deliveries
            self.broker.wake_owner = os.getppid()
        return self._spawn_loop(pusher, self.task_queue, self.event_out, self.broker)

    def spawn_monitor(self) -> _Loop:
        loop = self._spawn_loop(monitor, self.result_queue, self.broker)
        self.result_queue.reader = loop
        return loop

    def _spawn_loop(self, target, *args) -> _Loop:
        run = _closing(target, self.broker)
        loop = _Loop(target=run, args=args, name=target.__name__, daemon=True)
        loop.start()
        return loop


class OrmBroker(ORM):
    """django-q2's ORM broker whose empty dequeue waits for a wake-up instead of sleeping."""

    def __init__(self, list_key: str | None = None):
        super().__init__(list_key=list_key)
        self.wake: WakeSocket | None = None
        self.wake_owner: int | None = None  # the process whose enqueues wake us: our cluster

    def enqueue(self, task) -> int:
        pk = super().enqueue(task)
        transaction.on_commit(wake_pusher, using=Conf.ORM)  # at once outside a transaction
        return pk

    def dequeue(self):
        if self.wake is None:  # bound by the pusher's thread on its first look
            self.wake = WakeSocket(PUSHER, owner=self.wake_owner)
        self.wake.drain()  # before the read: a wake-up sent after it stays for the wait
        tasks = super().dequeue()
        if not tasks and select.select([self.wake], [], [], PUSHER_IDLE_SECONDS)[0]:
            self.wake.drain()
        return tasks

    def close(self) -> None:
        if self.wake is not None:
            self.wake.close()
            self.wake = None


def sentinel_install() -> None:
    """Make this the Sentinel `django_q.cluster.Cluster.start` forks (it names the class as a
    global of its module)."""
    django_q.cluster.Sentinel = Sentinel
