"""End to end with the real cluster: a chain A -> B on success and A -> C on failure, queued
when A's run ends and executed by the cluster, with the parent's id, status and values."""

from __future__ import annotations

import pytest

from jobs.services import job_create
from runs.models import Run, RunStatus, TriggerType
from runs.services import run_enqueue, run_log_lines
from tests.runs.e2e import wait_status

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOW = 'echo "$TASKFLOW_PARENT_RUN_ID $TASKFLOW_PARENT_STATUS $TASKFLOW_PARAM_ENV"'


def test_a_chain_runs_b_on_success_and_c_on_failure(cluster, owner):
    env = [{"name": "ENV", "type": "choice", "choices": ["prod", "test"], "default": "test"}]
    b = job_create(created_by=owner, name="b", script=SHOW, params=env)
    c = job_create(created_by=owner, name="c", script=SHOW, params=env)
    links = [{"job": str(b.pk), "on": "success"}, {"job": str(c.pk), "on": "failure"}]
    good = job_create(created_by=owner, name="good", script="true", params=env, followups=links)
    bad = job_create(created_by=owner, name="bad", script="exit 4", params=env, followups=links)
    cluster.start()

    runs = {}
    for job in (good, bad):
        runs[job.name], _ = run_enqueue(
            job=job, trigger_type=TriggerType.MANUAL, triggered_by=owner, params={"ENV": "prod"}
        )
    wait_status(runs["good"], RunStatus.SUCCESS, timeout=60)
    wait_status(runs["bad"], RunStatus.FAILURE, timeout=60)
    for parent, target, status in ((runs["good"], b, "success"), (runs["bad"], c, "failure")):
        [child] = Run.objects.filter(chained_from=parent)
        assert (child.job_id, child.trigger_type) == (target.pk, TriggerType.CHAIN)
        wait_status(child, RunStatus.SUCCESS, timeout=60)
        output = [line.content for line in run_log_lines(run=child) if line.stream == "stdout"]
        assert output == [f"{parent.pk} {status} prod"]
    assert Run.objects.filter(trigger_type=TriggerType.CHAIN).count() == 2
