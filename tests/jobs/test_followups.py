"""Chain links (`followups`): stored in order, shown on the job, loops of any length refused,
targets limited to what the owner may run, fixed values checked, links gone with their job."""

from __future__ import annotations

import itertools

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEntry
from jobs.models import JobFollowup
from jobs.services import job_create, job_delete, job_update
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def _job(owner, name, **fields):
    return job_create(created_by=owner, name=name, script="true", **fields)


def test_links_are_stored_in_order_and_replaced_whole(owner):
    b, c = _job(owner, "b"), _job(owner, "c", params=[{"name": "N", "type": "integer"}])
    a = _job(
        owner,
        "a",
        followups=[{"job": str(c.pk), "on": "failure", "params": {"N": "4"}}, {"job": b.pk}],
    )
    links = list(JobFollowup.objects.filter(job=a).order_by("position"))
    assert [(link.target, link.on, link.params) for link in links] == [
        (c, "failure", {"N": 4}),  # coerced to the target's type
        (b, "success", {}),
    ]
    job_update(job=a, followups=[{"job": str(b.pk), "on": "always"}])
    assert list(JobFollowup.objects.filter(job=a).values_list("target", "on")) == [(b.pk, "always")]
    job_update(job=a, name="a2")  # not given: unchanged
    assert JobFollowup.objects.filter(job=a).count() == 1
    entry = AuditEntry.objects.filter(object_type="job", object_id=str(a.pk)).order_by("-id")[1]
    assert entry.changes["followups"]["to"] == [
        {"job": str(b.pk), "jobName": "b", "on": "always", "params": {}}
    ]


@pytest.mark.parametrize("length", [1, 2, 3])
def test_a_loop_of_any_length_is_refused(owner, length):
    jobs = [_job(owner, f"j{index}") for index in range(length)]
    for source, target in itertools.pairwise(jobs):
        job_update(job=source, followups=[{"job": str(target.pk)}])
    with pytest.raises(ValidationError) as caught:
        job_update(job=jobs[-1], followups=[{"job": str(jobs[0].pk), "on": "always"}])
    message = caught.value.message_dict["followups"][0]
    names = " -> ".join([f"j{length - 1}", *(f"j{index}" for index in range(length))])
    assert message == f"A chain would loop: {names}."
    assert not JobFollowup.objects.filter(job=jobs[-1]).exists()


def test_a_diamond_is_not_a_loop(owner):
    d = _job(owner, "d")
    b = _job(owner, "b", followups=[{"job": str(d.pk)}])
    c = _job(owner, "c", followups=[{"job": str(d.pk)}])
    _job(owner, "a", followups=[{"job": str(b.pk)}, {"job": str(c.pk)}])


def test_an_owner_cannot_chain_to_another_users_job(owner, outsider, admin_user):
    theirs = JobFactory(created_by=outsider, name="theirs")
    with pytest.raises(ValidationError) as caught:
        _job(owner, "mine", followups=[{"job": str(theirs.pk)}])
    assert "#1: no job" in caught.value.message_dict["followups"][0]
    _job(admin_user, "admins", followups=[{"job": str(theirs.pk)}])  # admins see every job


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ({"job": "nope"}, "#1: job must be a job id."),
        ({"on": "success"}, "#1: job must be a job id."),
        ({"job": "TARGET", "on": "sometimes"}, "#1: on must be one of success, failure, always"),
        ({"job": "TARGET", "params": {"X": 1}}, "#1 (t): X: Unknown parameter"),
        ({"job": "TARGET", "params": {"N": "x"}}, "#1 (t): N: The value must be a whole"),
        ({"job": "TARGET", "params": {"S": "x"}}, "#1 (t): S: a secret value is given at run"),
        ({"job": "TARGET", "when": "now"}, "#1: must be an object of job, on and params."),
    ],
)
def test_each_link_rule_has_its_message(owner, link, message):
    target = _job(
        owner,
        "t",
        params=[{"name": "N", "type": "integer"}, {"name": "S", "secret": True}],
    )
    link = {key: str(target.pk) if value == "TARGET" else value for key, value in link.items()}
    with pytest.raises(ValidationError) as caught:
        _job(owner, "src", followups=[link])
    assert caught.value.message_dict["followups"][0].startswith(message)


def test_deleting_a_job_removes_its_links_both_ways(owner):
    c = _job(owner, "c")
    b = _job(owner, "b", followups=[{"job": str(c.pk)}])
    _job(owner, "a", followups=[{"job": str(b.pk)}])
    job_delete(job=b)
    assert not JobFollowup.objects.exists()


def test_the_api_writes_and_shows_followups(owner_api, owner):
    target = _job(owner, "target", params=[{"name": "N", "type": "integer"}])
    source = _job(owner, "source")
    response = owner_api.patch(
        f"/api/jobs/{source.pk}",
        {"followups": [{"job": str(target.pk), "on": "failure", "params": {"N": 2}}]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    expected = [{"job": str(target.pk), "jobName": "target", "on": "failure", "params": {"N": 2}}]
    assert response.json()["data"]["followups"] == expected
    listed = owner_api.get("/api/jobs").json()["data"]["jobs"]
    assert {job["name"]: job["followups"] for job in listed}["source"] == expected
    response = owner_api.patch(
        f"/api/jobs/{target.pk}", {"followups": [{"job": str(source.pk)}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["details"]["followups"] == [
        "A chain would loop: target -> source -> target."
    ]
