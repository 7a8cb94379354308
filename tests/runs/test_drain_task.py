"""The django-q2 entry point: a stop signal for a drain that has already returned leaves the
worker process alive (killed at a random point, it could hold a lock of django-q2's shared
queues and leave the Sentinel's stop waiting for ever)."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from django.db import connection

from runs.engine.drain import HANDOVER_SIGNAL
from runs.tasks import run_drain


@pytest.fixture
def signal_handlers():
    """This test process's own handlers, put back afterwards."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, HANDOVER_SIGNAL)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.django_db
def test_a_stop_signal_after_the_drain_returned_leaves_the_worker_alive(signal_handlers):
    # as a django-q2 worker is before its first delivery: SIGTERM at its default (kills)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(HANDOVER_SIGNAL, signal.SIG_DFL)

    assert run_drain(linger=0) == 0  # nothing due: it returns at once

    for signum in (signal.SIGTERM, HANDOVER_SIGNAL):
        handler = signal.getsignal(signum)
        # caught, by a Python handler: not the default, nor ignored (which a run would inherit)
        assert callable(handler), signal.Signals(signum).name
        os.kill(os.getpid(), signum)  # the handler runs before the next line: still here


@pytest.mark.django_db(transaction=True)
def test_a_drain_outside_the_main_thread_returns_without_touching_signals(signal_handlers):
    before = signal.getsignal(signal.SIGTERM)
    returned = []

    def drain():
        try:
            returned.append(run_drain(linger=0))
        finally:
            connection.close()  # this thread's own

    thread = threading.Thread(target=drain)
    thread.start()
    thread.join()
    assert returned == [0]
    assert signal.getsignal(signal.SIGTERM) is before
