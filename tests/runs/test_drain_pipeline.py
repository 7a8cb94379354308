"""A drain runs due runs back to back and commits each run's finish once the next has started
(the next is claimed first, in a transaction of its own). Where the next run has to wait for
that commit (a run of the same job queued behind it, a retry the finish queues) the finish
comes first and claims the next itself. A finish that fails is not lost in the overlap. Where
commits wait for the disk (PostgreSQL) each finish claims the next run in its own commit.
The overlap is tested on either database (the engine takes it on SQLite only)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from django.db import connection

from runs.engine import drain as drain_module
from runs.engine.drain import Drain
from runs.engine.executor import Executor
from runs.models import Run, RunStatus
from runs.services import run_enqueue
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def claim_ahead(monkeypatch):
    """The look-ahead claim on this database, whatever the engine's choice for it."""
    monkeypatch.setitem(drain_module.CLAIM_AHEAD, connection.vendor, True)


@pytest.fixture
def events(monkeypatch):
    """What the drain did, in order: ("claim", run or None), ("started", run), ("finish", run)
    (by job name)."""
    seen: list[tuple[str, str | None]] = []

    def name(run):
        return run.job.name if run is not None and run.job_id else None

    claim, finish, started = drain_module.run_claim, drain_module.run_finish, Executor._started

    def recording_claim(**kwargs):
        run = claim(**kwargs)
        if run is not None:
            run.job = run.job  # loaded now: the name is read outside the transaction
        seen.append(("claim", name(run)))
        return run

    def recording_finish(*, run, **kwargs):
        seen.append(("finish", name(run)))
        return finish(run=run, **kwargs)

    def recording_started(self):
        if self.on_started is not None:  # the first call (the drain always gives a hook)
            seen.append(("started", name(self.run)))
        return started(self)

    monkeypatch.setattr(drain_module, "run_claim", recording_claim)
    monkeypatch.setattr(drain_module, "run_finish", recording_finish)
    monkeypatch.setattr(Executor, "_started", recording_started)
    return seen


def _drain() -> int:
    return Drain(linger=0, budget=0).run()


def _enqueue(*jobs) -> list[Run]:
    return [run_enqueue(job=job, trigger_type="manual")[0] for job in jobs]


def test_it_commits_each_finish_once_the_next_run_has_started(events):
    jobs = [JobFactory(name=name, script=f"echo {name}") for name in "abc"]
    runs = _enqueue(*jobs)
    assert _drain() == 3
    assert events == [
        ("claim", "a"),
        ("started", "a"),
        ("claim", "b"),  # before a's finish, in its own transaction
        ("started", "b"),
        ("finish", "a"),  # while b runs
        ("claim", "c"),
        ("started", "c"),
        ("finish", "b"),
        ("claim", None),  # nothing else due: c's finish claims for itself (nothing)
        ("finish", "c"),
    ]
    for run in runs:
        run.refresh_from_db()
    assert [run.status for run in runs] == [RunStatus.SUCCESS] * 3
    # one after the other: each ended before the next started
    for earlier, later in pairwise(runs):
        assert earlier.finished_at <= later.started_at


def test_without_the_look_ahead_each_finish_claims_the_next_run(events, monkeypatch):
    monkeypatch.setitem(drain_module.CLAIM_AHEAD, connection.vendor, False)
    runs = _enqueue(*[JobFactory(name=name, script="true") for name in "ab"])
    assert _drain() == 2
    assert events == [
        ("claim", "a"),
        ("started", "a"),
        ("finish", "a"),  # claims b in the same transaction (not through the drain's claim)
        ("started", "b"),
        ("finish", "b"),
    ]
    for run in runs:
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCESS


def test_a_run_of_the_same_job_waits_for_the_finish_before_it(events):
    job = JobFactory(name="q", script="true", overlap_policy="queue", max_queued=5)
    runs = _enqueue(job, job)
    assert _drain() == 2
    assert events == [
        ("claim", "q"),
        ("started", "q"),
        ("claim", None),  # the second run waits for the first one's commit...
        ("finish", "q"),  # ...which claims it
        ("started", "q"),
        ("claim", None),
        ("finish", "q"),
    ]
    for run in runs:
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCESS


def test_a_finish_that_queues_a_retry_comes_before_the_next_run(events):
    failing = JobFactory(name="r", script="exit 1", retry_count=1, retry_delay_seconds=0)
    other = JobFactory(name="o", script="true")
    _enqueue(failing, other)
    _drain()
    assert events[:4] == [("claim", "r"), ("started", "r"), ("finish", "r"), ("started", "o")]
    assert Run.objects.filter(job=failing).count() == 2  # the retry ran too
    assert not Run.objects.exclude(status__in=[RunStatus.SUCCESS, RunStatus.FAILURE]).exists()


def test_a_failed_held_finish_ends_the_drain_after_the_running_run_is_recorded(monkeypatch):
    first, second = _enqueue(JobFactory(name="f", script="true"), JobFactory(script="true"))
    finish = drain_module.run_finish

    def failing_for_first(*, run, **kwargs):
        if run.pk == first.pk:
            raise RuntimeError("the database went away")
        return finish(run=run, **kwargs)

    monkeypatch.setattr(drain_module, "run_finish", failing_for_first)
    with pytest.raises(RuntimeError, match="went away"):
        _drain()
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.status == RunStatus.SUCCESS  # recorded before the error ends the drain
    assert first.status == RunStatus.RUNNING  # left to the reconciler, as any lost finish
