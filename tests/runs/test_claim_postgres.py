"""PostgreSQL's one-statement claim (runs.engine.claim_pg): workers skip each other's locked
candidates, never take one run twice, never start two runs of a job that does not allow
overlap, and a claim that raced another of its job puts its run back."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time

import psycopg
import pytest
from django.db import IntegrityError, connection, connections

from runs.engine import claim_pg
from runs.engine.claim import BudgetExceeded, run_claim, run_finish
from runs.engine.outcome import Outcome
from runs.models import Run, RunStatus
from tests.factories import JobFactory, RunFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'"),
]


def _in_thread(target, *args):
    """target(*args) on a connection of its own; returns (thread, its result list)."""
    result: list = []

    def body():
        try:
            result.append(target(*args))
        except BaseException as exc:  # handed to the test
            result.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=body)
    thread.start()
    return thread, result


def test_two_workers_draining_one_queue_never_take_a_run_twice_or_a_job_twice():
    jobs = [JobFactory(overlap_policy=policy) for policy in ("queue", "skip", "queue", "allow")]
    runs = [RunFactory(job=jobs[index % len(jobs)]) for index in range(60)]
    taken: dict = {}
    overlaps: list = []
    lock = threading.Lock()

    def drain(worker: str) -> int:
        count = 0
        while (run := run_claim(worker=worker)) is not None or Run.objects.filter(
            status=RunStatus.PENDING
        ).exists():
            if run is None:
                continue  # the other worker holds the only startable runs: ask again
            others = Run.objects.filter(job_id=run.job_id, status=RunStatus.RUNNING)
            if run.job.overlap_policy != "allow" and others.exclude(pk=run.pk).exists():
                overlaps.append(run.pk)
            with lock:
                taken.setdefault(run.pk, []).append(worker)
            Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCESS)
            count += 1
        return count

    threads = [_in_thread(drain, f"w:{index}") for index in (1, 2)]
    for thread, _ in threads:
        thread.join(120)
    results = [result[0] for _, result in threads]
    assert all(isinstance(count, int) for count in results), results
    assert sum(results) == len(runs)
    assert sorted(taken, key=str) == sorted((run.pk for run in runs), key=str)
    assert all(len(workers) == 1 for workers in taken.values())
    assert overlaps == []


def test_a_claim_that_raced_another_of_its_job_puts_its_run_back():
    job = JobFactory(overlap_policy="queue")
    first, second = RunFactory(job=job), RunFactory(job=job)
    # another worker took `first` and holds the job's claim lock until it commits; our claim
    # statement chose `second` from a snapshot that did not see that claim yet
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                [claim_pg.LOCK_CLASS, str(job.pk)],
            )
        Run.objects.filter(pk=first.pk).update(status=RunStatus.PENDING, priority=-1)
        thread, result = _in_thread(lambda: run_claim(worker="w:ours"))
        _wait_for_a_waiting_advisory_lock()
        with other.cursor() as cursor:  # their claim of `first` commits
            cursor.execute(
                "UPDATE runs_run SET status = 'running', worker = 'w:theirs' WHERE id = %s",
                [first.pk],
            )
            cursor.execute("COMMIT")
        thread.join(60)
    finally:
        other.close()
    assert result == [None]
    second.refresh_from_db()
    assert (second.status, second.worker, second.started_at) == (RunStatus.PENDING, "", None)


def _wait_for_a_waiting_advisory_lock(seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            if cursor.fetchone():
                return
        time.sleep(0.01)
    raise AssertionError("the claim never waited for the job's lock")


def test_the_best_run_over_the_budget_is_left_pending_and_reported():
    RunFactory(spec={"kind": "shell", "script": "true", "timeout_seconds": 600})
    with pytest.raises(BudgetExceeded):
        run_claim(worker="w:1", budget_seconds=100)
    assert Run.objects.get().status == RunStatus.PENDING
    assert run_claim(worker="w:1", budget_seconds=10_000).status == RunStatus.RUNNING


def test_the_claim_goes_out_as_one_pipeline():
    RunFactory()
    sent: list[bool] = []

    def in_pipeline(execute, sql, params, many, context):
        sent.append(connection.connection.pgconn.pipeline_status != 0)  # 0: not in one
        return execute(sql, params, many, context)

    with connection.execute_wrapper(in_pipeline):
        run = run_claim(worker="w:1")
    assert run is not None
    assert sent == [True, True]  # claim (with the job lock), re-check (and the commit)


def test_a_new_connection_prepares_the_claim_again():
    first, second = RunFactory(), RunFactory()
    assert run_claim(worker="w:1").pk in {first.pk, second.pk}
    connection.close()  # a reconnect: the session's prepared statements are gone with it
    assert run_claim(worker="w:1").pk in {first.pk, second.pk}
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        assert {claim_pg.CLAIM, claim_pg.UNDO} <= {name for (name,) in cursor.fetchall()}
    assert Run.objects.filter(status=RunStatus.RUNNING).count() == 2


def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_the_claim_reads_pending_runs_in_order_and_stops_at_the_first():
    """A burst of pending runs after the table's statistics were taken while it was quiet (the
    planner then believes in one pending run): the claim still reads the claim index in order
    and stops at the first run that may start. Before the index held the whole order, this
    plan sorted every pending run on each claim."""
    jobs = [JobFactory() for _ in range(4)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE runs_run")
    Run.objects.bulk_create(RunFactory.build(job=jobs[index % len(jobs)]) for index in range(1000))
    claim_pg._prepare()
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            cursor.execute("BEGIN")
            cursor.execute(
                f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {claim_pg.CLAIM}(now(), 'w:1', 100000)"
            )
            (plan,) = cursor.fetchone()[0]
            cursor.execute("ROLLBACK")
        finally:
            cursor.execute("RESET plan_cache_mode")
    nodes = list(_plan_nodes(plan["Plan"]))
    assert not [node for node in nodes if "Sort" in node["Node Type"]]
    (scan,) = [node for node in nodes if node.get("Index Name") == "run_claim_idx"]
    assert scan["Actual Rows"] == 1


@contextlib.contextmanager
def _syncs() -> list[int]:
    """How many times the client waits on the server (Sync messages; libpq's trace) within."""
    counted: list[int] = []
    raw = connection.connection
    with tempfile.TemporaryFile() as trace:
        raw.pgconn.trace(trace.fileno())
        raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield counted
        finally:
            raw.pgconn.untrace()
        trace.seek(0)
        sent = [line.split("\t") for line in trace.read().decode(errors="replace").splitlines()]
    counted.append(sum(1 for fields in sent if fields[0] == "F" and fields[2:3] == ["Sync"]))


def test_a_finish_with_the_next_claim_is_one_round_trip():
    first, second = RunFactory(), RunFactory()
    done = run_claim(worker="w:1")
    now = time.time()
    outcome = Outcome(
        status=RunStatus.SUCCESS, exit_code=0, error_message="", started=now, finished=now
    )
    with _syncs() as syncs:
        finished = run_finish(
            run=done, outcome=outcome, claim_next={"worker": "w:1", "budget_seconds": None}
        )
    assert syncs == [1]  # BEGIN, the finish, the claim, its re-check and COMMIT: one sync
    assert {done.pk, finished.next_run.pk} == {first.pk, second.pk}
    assert Run.objects.get(pk=done.pk).status == RunStatus.SUCCESS
    assert Run.objects.get(pk=finished.next_run.pk).status == RunStatus.RUNNING


def test_a_failed_one_round_trip_transaction_is_rolled_back_and_raised():
    run = RunFactory()
    with pytest.raises(IntegrityError), claim_pg.transaction():
        Run.objects.filter(pk=run.pk).update(worker="changed")
        with connection.cursor() as cursor:  # a duplicate key: the database refuses it
            cursor.execute(
                "INSERT INTO runs_run SELECT * FROM runs_run WHERE id = %s", [run.pk.hex]
            )
    with pytest.raises(RuntimeError), claim_pg.transaction():
        Run.objects.filter(pk=run.pk).update(worker="changed")
        raise RuntimeError("the block failed")
    assert Run.objects.get(pk=run.pk).worker == ""  # neither update stayed
    assert connection.get_autocommit() and not connection.in_atomic_block
