"""A run's parameter values: taken from the API (400 per parameter), stored (secrets sealed),
shown masked, given to the script as TASKFLOW_PARAM_<NAME>, masked in its log, reused by a
re-run, part of the idempotency key's identity, defaults for scheduled runs, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEntry
from jobs.params import MASK, ParamsInvalid
from jobs.services import job_create
from runs.models import Run, RunStatus, TriggerType
from runs.services import run_enqueue, run_enqueue_many, run_rerun
from tests.runs.helpers import execute, lines

pytestmark = pytest.mark.django_db

PARAMS = [
    {"name": "REGION", "type": "choice", "choices": ["eu", "us"], "default": "eu"},
    {"name": "COUNT", "type": "integer", "default": 2},
    {"name": "VERBOSE", "type": "boolean", "default": False},
    {"name": "TOKEN", "type": "string", "secret": True},
]
SCRIPT = (
    'echo "region=$TASKFLOW_PARAM_REGION count=$TASKFLOW_PARAM_COUNT '
    'verbose=$TASKFLOW_PARAM_VERBOSE"; echo "token=$TASKFLOW_PARAM_TOKEN"'
)


@pytest.fixture
def job(owner):
    return job_create(created_by=owner, name="deploy", script=SCRIPT, params=PARAMS)


def _trigger(client, job, params=None, **headers):
    body = {} if params is None else {"params": params}
    return client.post(f"/api/jobs/{job.pk}/run", body, format="json", **headers)


def test_the_api_takes_values_and_the_script_sees_them_with_secrets_masked(owner_api, job):
    response = _trigger(owner_api, job, {"REGION": "us", "COUNT": 5, "TOKEN": "hunter2"})
    assert response.status_code == 201, response.json()
    run = Run.objects.get(pk=response.json()["data"]["runId"])
    assert run.params["REGION"] == "us" and run.params["COUNT"] == 5
    assert "hunter2" not in str(run.params) and "hunter2" not in str(run.spec)
    run = execute(run)
    assert run.status == RunStatus.SUCCESS, lines(run)
    assert "region=us count=5 verbose=false" in lines(run, "stdout")
    assert "token=***" in lines(run, "stdout")  # masked like a secret variable
    assert not any("hunter2" in line for line in lines(run))
    detail = owner_api.get(f"/api/runs/{run.pk}").json()["data"]
    assert detail["params"] == {"REGION": "us", "COUNT": 5, "VERBOSE": False, "TOKEN": MASK}
    assert detail["chainedFrom"] is None and detail["chainedRuns"] == []
    listed = owner_api.get("/api/runs").json()["data"]["runs"][0]
    assert listed["params"]["TOKEN"] == MASK


def test_a_run_without_a_body_uses_the_defaults(owner_api, job):
    response = owner_api.post(f"/api/jobs/{job.pk}/run")
    assert response.status_code == 201
    run = Run.objects.get(pk=response.json()["data"]["runId"])
    assert run.params == {"REGION": "eu", "COUNT": 2, "VERBOSE": False}
    assert run.spec["params"] == {"REGION": "eu", "COUNT": "2", "VERBOSE": "false"}


def test_bad_values_are_a_400_per_parameter_and_queue_nothing(owner_api, job):
    response = _trigger(owner_api, job, {"REGION": "mars", "COUNT": "x", "NOPE": 1})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    details = body["details"]["params"]
    assert details["REGION"] == ["The value must be one of eu, us."]
    assert details["COUNT"] == ["The value must be a whole number."]
    assert details["NOPE"][0].startswith("Unknown parameter")
    response = _trigger(owner_api, job, ["REGION"])
    assert response.status_code == 400
    assert "params" in response.json()["details"]
    response = owner_api.post(f"/api/jobs/{job.pk}/run", {"parms": {}}, format="json")
    assert response.status_code == 400  # an unknown body field is refused, never ignored
    assert not Run.objects.exists()


def test_a_required_parameter_must_be_given_by_a_person(owner_api, owner):
    job = job_create(
        created_by=owner, name="r", script="true", params=[{"name": "WHO", "required": True}]
    )
    response = _trigger(owner_api, job)
    assert response.status_code == 400
    assert response.json()["details"]["params"] == {
        "WHO": ["Required: this parameter has no default."]
    }


def test_idempotency_counts_the_values(owner_api, job):
    key = {"HTTP_IDEMPOTENCY_KEY": "deploy-1"}
    first = _trigger(owner_api, job, {"REGION": "us", "TOKEN": "s"}, **key)
    again = _trigger(owner_api, job, {"REGION": "us", "TOKEN": "s"}, **key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["data"]["runId"] == again.json()["data"]["runId"]
    other = _trigger(owner_api, job, {"REGION": "eu"}, **key)
    assert other.status_code == 409
    assert other.json()["code"] == "CONFLICT"
    assert "other parameter values" in other.json()["error"]
    assert Run.objects.count() == 1


def test_a_rerun_reuses_the_values(owner_api, owner, job):
    run, _ = run_enqueue(
        job=job,
        trigger_type=TriggerType.MANUAL,
        triggered_by=owner,
        params={"REGION": "us", "TOKEN": "t0k"},
    )
    again, created = run_rerun(run=run, by=owner)
    assert created and again.pk != run.pk
    execute(again)
    assert "region=us count=2 verbose=false" in lines(again, "stdout")
    assert "token=***" in lines(again, "stdout")
    response = owner_api.post(f"/api/runs/{run.pk}/rerun")
    assert response.status_code == 201
    assert response.json()["data"]["params"]["REGION"] == "us"


def test_scheduled_runs_use_the_defaults_and_skip_when_a_value_is_missing(owner):
    with_defaults = job_create(created_by=owner, name="d", script="true", params=PARAMS)
    needs = job_create(
        created_by=owner, name="n", script="true", params=[{"name": "WHO", "required": True}]
    )
    slot = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    items = [
        {"job": job, "trigger_type": TriggerType.SCHEDULED, "scheduled_for": slot}
        for job in (with_defaults, needs)
    ]
    (ok, _), (skipped, _) = run_enqueue_many(items=items)
    assert ok.status == RunStatus.PENDING
    assert ok.params == {"REGION": "eu", "COUNT": 2, "VERBOSE": False}
    assert skipped.status == RunStatus.SKIPPED
    assert "WHO: Required" in skipped.error_message


def test_a_manual_run_is_audited_with_its_values_masked(owner, job):
    with pytest.raises(ParamsInvalid):
        run_enqueue(job=job, trigger_type=TriggerType.MANUAL, params={"COUNT": "x"})
    run, _ = run_enqueue(
        job=job, trigger_type=TriggerType.MANUAL, triggered_by=owner, params={"TOKEN": "zz"}
    )
    entry = AuditEntry.objects.get(object_type="run", object_id=str(run.pk))
    assert entry.changes["params"]["to"] == {
        "REGION": "eu",
        "COUNT": 2,
        "VERBOSE": False,
        "TOKEN": MASK,
    }
    assert "zz" not in str(entry.changes)


def test_a_retry_keeps_the_values(owner):
    job = job_create(
        created_by=owner,
        name="flaky",
        script='echo "token=$TASKFLOW_PARAM_TOKEN"; exit 1',
        params=PARAMS,
        retry_count=1,
        retry_delay_seconds=0,
    )
    run, _ = run_enqueue(job=job, trigger_type=TriggerType.MANUAL, params={"TOKEN": "abc"})
    execute(run)
    retry = Run.objects.get(parent=run)
    assert retry.params == run.params
    retry = execute(retry)
    assert "token=***" in lines(retry, "stdout")
