"""django-q2's cluster made cheap at idle (runs/engine/sentinel.py): the pusher and the monitor
are threads of the Sentinel, and the ORM broker's pusher sleeps until a delivery is queued."""

from __future__ import annotations

import os
import threading

import psutil
import pytest
from django_q.signing import SignedPackage

from runs.engine import sentinel
from runs.engine.sentinel import OrmBroker, _ResultQueue
from runs.engine.wake import wake_dir
from tests.support.processes import wait_for


@pytest.mark.django_db(transaction=True)
def test_the_pusher_sleeps_until_its_cluster_queues_a_delivery(monkeypatch):
    # its own look at the queue comes only after ten minutes: only a wake-up ends the wait
    monkeypatch.setattr(sentinel, "PUSHER_IDLE_SECONDS", 600.0)
    broker = OrmBroker(list_key="test-pusher")
    found: list = []
    looked = threading.Event()

    def pusher():
        try:
            while not found:
                looked.set()
                found.extend(broker.dequeue() or [])
        finally:
            broker.close()

    thread = threading.Thread(target=pusher, daemon=True)
    thread.start()
    assert looked.wait(30)
    wait_for(lambda: broker.wake is not None, timeout=30, message="the pusher's wake socket")
    bound = broker.wake.path
    assert bound.parent == wake_dir() and bound.name.startswith(f"pusher-{os.getpid()}-")

    broker.enqueue(SignedPackage.dumps({"id": "delivery", "func": "print"}))

    thread.join(60)
    assert not thread.is_alive(), "the pusher slept through the delivery"
    ((_, package),) = found
    assert SignedPackage.loads(package)["id"] == "delivery"
    assert not bound.exists()  # closed with the pusher's loop


@pytest.mark.parametrize("attempt", range(20))
def test_closing_the_result_queue_waits_for_the_monitor_to_read_stop(attempt):
    """django-q2's stop puts "STOP" and closes the queue at once; the monitor thread reads the
    same queue in the same process, so it must have read "STOP" before the reading end closes."""
    queue = _ResultQueue()
    read: list = []
    errors: list = []

    def monitor():
        try:
            read.extend(iter(queue.get, "STOP"))
        except Exception as exc:  # the reading end closed under it
            errors.append(exc)

    queue.reader = threading.Thread(target=monitor)
    queue.reader.start()
    queue.put({"result": attempt})
    queue.put("STOP")
    queue.close()
    queue.join_thread()

    assert errors == []
    assert read == [{"result": attempt}]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_cluster_is_its_sentinel_and_its_workers(cluster):
    proc = cluster.start(workers=2)
    (sentinel_process,) = psutil.Process(proc.pid).children()
    workers = sentinel_process.children()
    assert len(workers) == 2  # no pusher or monitor process beside them
    threads = {thread.id for thread in sentinel_process.threads()}
    assert len(threads) >= 3  # the Sentinel's own, its pusher and its monitor
