"""Drain loops under the real cluster: one job never runs twice at once with two workers
(A9, without the tick: runs queued through run_enqueue), and drains hand over without a gap
or a pile-up of deliveries."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from django_q.models import OrmQ

from runs.models import Run, RunStatus
from runs.services import run_enqueue
from tests.factories import JobFactory
from tests.runs.e2e import wait_status

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_it_never_runs_one_job_twice_at_once_with_two_workers(cluster):  # A9 (queue policy)
    cluster.start(workers=2)
    job = JobFactory(script="sleep 1.5", overlap_policy="queue", max_queued=10)
    other = JobFactory(script="sleep 1.5")
    runs = [run_enqueue(job=job, trigger_type="scheduled")[0] for _ in range(3)]
    parallel, _ = run_enqueue(job=other, trigger_type="manual")
    queued = runs
    for run in [*queued, parallel]:
        wait_status(run, RunStatus.SUCCESS, timeout=60)
    spans = sorted((run.started_at, run.finished_at) for run in queued)
    for (_, end), (start, _) in pairwise(spans):
        assert start >= end  # one after the other
    # ...while the second worker ran the other job beside them
    assert any(start < parallel.finished_at and parallel.started_at < end for start, end in spans)


def test_it_hands_over_between_drain_loops_without_a_gap(cluster):
    cluster.start(TASKFLOW_DRAIN_LINGER_SECONDS="4")
    job = JobFactory(script="true", max_queued=100)
    waits = []
    deadline = time.monotonic() + 14  # several drain lifetimes
    while time.monotonic() < deadline:
        run, _ = run_enqueue(job=job, trigger_type="manual")
        wait_status(run, RunStatus.SUCCESS, timeout=20)
        waits.append((run.started_at - run.created_at).total_seconds())
        assert OrmQ.objects.count() <= 2  # the running drain and at most one successor
        time.sleep(0.3)
    assert max(waits) < 1.0
    assert Run.objects.filter(job=job).count() == len(waits)
