"""Chains in the engine: a run's final attempt queues its job's follow-ups for its outcome
(trigger "chain", parent run, parent env and values, link values), exactly once; RBAC holds at
run time; cancelled starts only "always"; a lost worker counts as failure; the depth is capped."""

from __future__ import annotations

import pytest

from jobs.models import JobFollowup
from jobs.services import job_create, job_delete, job_set_owner
from runs.chains import followups_start
from runs.engine.claim import run_claim, run_mark_lost
from runs.engine.drain import Drain
from runs.models import Run, RunStatus, TriggerType
from runs.services import run_cancel, run_enqueue
from tests.factories import JobFactory
from tests.runs.helpers import engine_settings, execute, lines

pytestmark = pytest.mark.django_db

SHOW = 'echo "parent=$TASKFLOW_PARENT_RUN_ID status=$TASKFLOW_PARENT_STATUS n=$TASKFLOW_PARAM_N"'


def _job(owner, name, script="true", **fields):
    return job_create(created_by=owner, name=name, script=script, **fields)


def _chain(owner, script: str):
    """a --success--> b, a --failure--> c, a --always--> d (b and c print what they got)."""
    params = [{"name": "N", "type": "integer", "default": 0}]
    b = _job(owner, "b", SHOW, params=params)
    c = _job(owner, "c", SHOW, params=params)
    d = _job(owner, "d")
    a = _job(
        owner,
        "a",
        script,
        params=[{"name": "N", "type": "integer", "default": 1}],
        followups=[
            {"job": str(b.pk), "on": "success"},
            {"job": str(c.pk), "on": "failure", "params": {"N": 9}},
            {"job": str(d.pk), "on": "always"},
        ],
    )
    return a, b, c, d


def _followers(run) -> dict[str, Run]:
    return {child.job.name: child for child in Run.objects.filter(chained_from=run)}


def test_success_queues_the_success_and_always_links(owner):
    a = _chain(owner, "true")[0]
    parent, _ = run_enqueue(job=a, trigger_type=TriggerType.MANUAL, params={"N": 5})
    parent = execute(parent)
    followers = _followers(parent)
    assert set(followers) == {"b", "d"}
    child = followers["b"]
    assert (child.trigger_type, child.status, child.triggered_by) == ("chain", "pending", owner)
    assert child.params == {"N": 5}  # the parent's value for a name b declares
    child = execute(child)
    assert f"parent={parent.pk} status=success n=5" in lines(child, "stdout")
    assert child.spec["chain"]["depth"] == 1
    assert not Run.objects.filter(chained_from=child).exists()


def test_failure_and_timeout_queue_the_failure_link_with_its_values(owner):
    a, _, c, _ = _chain(owner, "exit 3")
    parent = execute(run_enqueue(job=a, trigger_type=TriggerType.MANUAL)[0])
    assert set(_followers(parent)) == {"c", "d"}
    child = execute(_followers(parent)["c"])
    assert f"parent={parent.pk} status=failure n=9" in lines(child, "stdout")  # the link wins

    slow = _job(
        owner,
        "slow",
        "sleep 30",
        timeout_seconds=1,
        followups=[{"job": str(c.pk), "on": "failure"}],
    )
    parent = execute(run_enqueue(job=slow, trigger_type=TriggerType.MANUAL)[0])
    assert parent.status == RunStatus.TIMEOUT
    assert set(_followers(parent)) == {"c"}
    assert _followers(parent)["c"].spec["chain"]["status"] == "timeout"


def test_only_the_final_attempt_chains(owner):
    b = _job(owner, "b")
    a = _job(
        owner,
        "a",
        "exit 1",
        retry_count=1,
        retry_delay_seconds=0,
        followups=[{"job": str(b.pk), "on": "failure"}],
    )
    first = execute(run_enqueue(job=a, trigger_type=TriggerType.MANUAL)[0])
    assert not Run.objects.filter(job=b).exists()  # a retry follows: not the end yet
    last = execute(Run.objects.get(parent=first))
    assert [run.chained_from_id for run in Run.objects.filter(job=b)] == [last.pk]


def test_cancelling_a_pending_run_starts_only_always_links(owner, owner_api):
    a = _chain(owner, "true")[0]
    parent, _ = run_enqueue(job=a, trigger_type=TriggerType.MANUAL)
    run_cancel(run=parent, by=owner)
    run_cancel(run=parent, by=owner)  # idempotent: still one follow-up
    assert set(_followers(parent)) == {"d"}
    assert _followers(parent)["d"].spec["chain"]["status"] == "cancelled"
    detail = owner_api.get(f"/api/runs/{parent.pk}").json()["data"]
    assert [(r["jobName"], r["triggerType"]) for r in detail["chainedRuns"]] == [("d", "chain")]


def test_cancelling_a_running_run_starts_only_always_links(owner):
    a = _chain(owner, "sleep 30")[0]
    parent, _ = run_enqueue(job=a, trigger_type=TriggerType.MANUAL)
    claimed = run_claim(worker="test:1", run_id=parent.pk)
    run_cancel(run=claimed, by=owner)  # the executor sees the request at its first check
    Drain(linger=0, budget=0).execute(claimed)
    claimed.refresh_from_db()
    assert claimed.status == RunStatus.CANCELLED
    assert set(_followers(claimed)) == {"d"}


def test_a_lost_worker_counts_as_failure(owner):
    a = _chain(owner, "true")[0]
    parent, _ = run_enqueue(job=a, trigger_type=TriggerType.MANUAL)
    claimed = run_claim(worker="gone:1", run_id=parent.pk)
    run_mark_lost(run=claimed)
    run_mark_lost(run=claimed)  # twice: nothing more
    assert set(_followers(parent)) == {"c", "d"}


def test_a_job_deleted_with_pending_runs_starts_nothing(owner):
    a = _chain(owner, "true")[0]
    run_enqueue(job=a, trigger_type=TriggerType.MANUAL)
    job_delete(job=a)
    assert not Run.objects.filter(trigger_type=TriggerType.CHAIN).exists()


def test_a_follow_up_the_owner_may_no_longer_run_is_recorded_skipped(owner, outsider, admin_user):
    theirs = JobFactory(created_by=outsider, name="theirs")
    a = _job(admin_user, "a", followups=[{"job": str(theirs.pk)}])  # an admin's link
    job_set_owner(job=a, owner=owner)  # ...on a job now owned by someone who cannot see it
    parent = execute(run_enqueue(job=a, trigger_type=TriggerType.MANUAL)[0])
    child = Run.objects.get(chained_from=parent)
    assert child.job == theirs and child.status == RunStatus.SKIPPED
    assert child.error_message == (
        "not run: owner (the owner of the job whose run started it) may not run it"
    )
    assert lines(child) == [child.error_message]


def test_values_that_no_longer_fit_are_recorded_skipped(owner):
    b = _job(owner, "b", params=[{"name": "WHO", "required": True}])
    a = _job(owner, "a", followups=[{"job": str(b.pk)}])
    child = Run.objects.get(chained_from=execute(run_enqueue(job=a, trigger_type="manual")[0]))
    assert child.status == RunStatus.SKIPPED
    assert "WHO: Required" in child.error_message


def test_a_runaway_chain_is_capped(owner):
    jobs = [_job(owner, f"j{index}") for index in range(2)]
    # a loop the services refuse, written directly: the cap still stops it
    JobFollowup.objects.create(job=jobs[0], target=jobs[1])
    JobFollowup.objects.create(job=jobs[1], target=jobs[0])
    with engine_settings(CHAIN_MAX_DEPTH=3):
        run = execute(run_enqueue(job=jobs[0], trigger_type=TriggerType.MANUAL)[0])
        depths = []
        while True:
            child = Run.objects.get(chained_from=run)
            if child.status == RunStatus.SKIPPED:
                break
            depths.append(child.spec["chain"]["depth"])
            run = execute(child)
    assert depths == [1, 2, 3]
    assert child.spec["chain"]["depth"] == 4
    assert "the chain is 3 follow-ups deep" in child.error_message
    assert not Run.objects.filter(chained_from=child).exists()


def test_a_run_without_links_does_no_chain_query(owner, django_assert_num_queries):
    run, _ = run_enqueue(job=_job(owner, "alone"), trigger_type=TriggerType.MANUAL)
    assert "followups" not in run.spec
    with django_assert_num_queries(0):
        assert followups_start(run, status=RunStatus.SUCCESS) == []
