"""The cluster loop's dispatcher sleeps between its own looks: a drain that retires or ends
wakes it (runs/engine/wake.py), and the steps marked `woken` run at once."""

from __future__ import annotations

import select

import pytest

from runs.engine.drain import Drain
from runs.engine.wake import CLUSTER, WakeSocket, wake_cluster
from taskflow_site.lib.steps import ClusterLoop, Step


@pytest.fixture
def cluster_wake(settings, tmp_path):
    """A cluster loop's wake socket in a wake directory of this test's own."""
    settings.DATA_DIR = str(tmp_path)
    wake = WakeSocket(CLUSTER)
    yield wake
    wake.close()


def _woken(wake: WakeSocket) -> bool:
    """Was a wake-up sent (a datagram is queued the moment it is sent: no wait needed)?"""
    ready = bool(select.select([wake], [], [], 0)[0])
    wake.drain()
    return ready


@pytest.mark.django_db  # the loop closes stale connections between steps
def test_a_wake_up_ends_the_sleep_and_makes_the_woken_steps_due(cluster_wake):
    ran: list[str] = []
    dispatch = Step("dispatch", lambda now: ran.append("dispatch"), interval=600, woken=True)
    other = Step("other", lambda now: ran.append("other"), interval=600)
    loop = ClusterLoop([dispatch, other], wake=cluster_wake)
    loop.run_once()
    assert ran == ["dispatch", "other"]

    loop.sleep(0)  # nothing sent: nothing due
    loop.run_once()
    assert ran == ["dispatch", "other"]

    assert wake_cluster() == 1
    loop.sleep(600)  # returns at once: the wake-up is waiting
    loop.run_once()
    assert ran == ["dispatch", "other", "dispatch"]  # the other step keeps its own time


@pytest.mark.django_db
def test_a_drain_wakes_the_dispatcher_when_it_retires_and_when_it_ends(cluster_wake):
    drain = Drain(linger=0, budget=0)
    drain.register()
    assert not _woken(cluster_wake)
    drain.retire()
    assert _woken(cluster_wake)  # its successor is queued now, not at the next look

    Drain(linger=0, budget=0).run()  # nothing due: it retires and returns at once
    assert _woken(cluster_wake)
