"""Run parameters: what a job may declare (each rule's message), how a run's values are
cleaned against it, and `params` on the job API and in its OpenAPI schema."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from jobs.params import (
    MASK,
    ParamsInvalid,
    param_values_clean,
    params_declaration_errors,
    params_masked,
    params_open,
    params_seal,
)
from jobs.services import job_create, job_update

DECLARED = [
    {"name": "REGION", "type": "choice", "choices": ["eu", "us"], "default": "eu"},
    {"name": "COUNT", "type": "integer", "default": 3},
    {"name": "DRY_RUN", "type": "boolean", "default": False},
    {"name": "LABEL", "type": "string"},
    {"name": "TARGET", "type": "string", "required": True},
    {"name": "TOKEN", "type": "string", "secret": True},
]


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"name": "X"}, "Must be a list of parameters."),
        ([{"name": "lower"}], "#1: the name must be an upper-case identifier"),
        ([{"name": "1X"}], "#1: the name must be an upper-case identifier"),
        ([{"name": "X"}, {"name": "X"}], "X: declared twice."),
        ([{"name": "X", "type": "float"}], "X: type must be one of string, integer"),
        ([{"name": "X", "type": "integer", "default": "3"}], "X: the default must be a whole"),
        ([{"name": "X", "type": "integer", "default": True}], "X: the default must be a whole"),
        ([{"name": "X", "type": "boolean", "default": "yes"}], "X: the default must be true"),
        ([{"name": "X", "type": "string", "default": 5}], "X: the default must be text"),
        ([{"name": "X", "type": "choice", "choices": []}], "X: a choice parameter needs"),
        ([{"name": "X", "type": "choice"}], "X: a choice parameter needs"),
        (
            [{"name": "X", "type": "choice", "choices": ["a"], "default": "b"}],
            "X: the default must be one of a",
        ),
        ([{"name": "X", "type": "choice", "choices": ["a", "a"]}], "X: the choices must be"),
        ([{"name": "X", "type": "string", "choices": ["a"]}], "X: only a choice parameter"),
        ([{"name": "X", "type": "integer", "secret": True}], "X: only a string parameter can"),
        ([{"name": "X", "secret": True, "default": "s"}], "X: a secret parameter has no default"),
        ([{"name": "X", "required": "yes"}], "X: required must be true or false."),
        ([{"name": "X", "colour": "red"}], "X: unknown keys colour."),
        (["X"], "#1: must be an object."),
    ],
)
def test_each_declaration_rule_has_its_message(declared, message):
    errors = params_declaration_errors(declared)
    assert any(error.startswith(message) for error in errors), errors


def test_a_full_declaration_is_valid():
    assert params_declaration_errors(DECLARED) == []


def test_values_get_defaults_and_types():
    values = param_values_clean(DECLARED, {"TARGET": "db1", "COUNT": "7", "DRY_RUN": "true"})
    assert values == {"REGION": "eu", "COUNT": 7, "DRY_RUN": True, "TARGET": "db1"}
    values = param_values_clean(DECLARED, {"TARGET": "db1", "DRY_RUN": False, "TOKEN": "s"})
    assert values["DRY_RUN"] is False and values["TOKEN"] == "s"
    assert "LABEL" not in values  # no default, not required: not set


@pytest.mark.parametrize(
    ("given", "name", "message"),
    [
        ({"TARGET": "x", "NOPE": 1}, "NOPE", "Unknown parameter (this job declares: REGION"),
        ({}, "TARGET", "Required: this parameter has no default."),
        ({"TARGET": "x", "COUNT": "many"}, "COUNT", "The value must be a whole number."),
        ({"TARGET": "x", "COUNT": 1.5}, "COUNT", "The value must be a whole number."),
        ({"TARGET": "x", "DRY_RUN": "maybe"}, "DRY_RUN", "The value must be true or false."),
        ({"TARGET": "x", "REGION": "mars"}, "REGION", "The value must be one of eu, us"),
        ({"TARGET": 5}, "TARGET", "The value must be text."),
        ({"TARGET": "a\x00b"}, "TARGET", "The value must not contain NUL."),
    ],
)
def test_each_value_error_names_its_parameter(given, name, message):
    with pytest.raises(ParamsInvalid) as caught:
        param_values_clean(DECLARED, given)
    assert caught.value.errors[name].startswith(message), caught.value.errors


def test_values_must_be_an_object():
    with pytest.raises(ParamsInvalid) as caught:
        param_values_clean(DECLARED, ["TARGET"])
    assert caught.value.errors == {"params": "Must be an object of NAME: value."}


def test_a_job_without_parameters_refuses_any_value():
    assert param_values_clean([], None) == {}
    with pytest.raises(ParamsInvalid) as caught:
        param_values_clean([], {"X": 1})
    assert "declares: none" in caught.value.errors["X"]


def test_secret_values_are_sealed_and_masked():
    stored = params_seal(DECLARED, {"TARGET": "db1", "TOKEN": "hunter2"})
    assert stored["TARGET"] == "db1"
    assert "hunter2" not in str(stored)
    assert params_masked(stored) == {"TARGET": "db1", "TOKEN": MASK}
    assert params_open(stored) == {"TARGET": "db1", "TOKEN": "hunter2"}


# ---- through the job services and API ----


@pytest.mark.django_db
def test_job_services_store_the_tidy_declaration_and_refuse_a_bad_one(owner):
    job = job_create(
        created_by=owner, name="p", script="true", params=[{"name": "A", "type": "integer"}]
    )
    assert job.params == [
        {
            "name": "A",
            "type": "integer",
            "default": None,
            "required": False,
            "choices": [],
            "secret": False,
            "help": "",
        }
    ]
    with pytest.raises(ValidationError) as caught:
        job_update(job=job, params=[{"name": "a"}])
    assert "params" in caught.value.message_dict


@pytest.mark.django_db
def test_an_http_job_may_only_use_declared_parameters(owner):
    with pytest.raises(ValidationError) as caught:
        job_create(
            created_by=owner,
            name="h",
            kind="http",
            http_url="https://example.com/{{params.PATH}}",
            http_headers={"X-Env": "{{ params.ENV }}"},
            params=[{"name": "PATH"}],
        )
    assert caught.value.message_dict["params"] == [
        "{{params.ENV}} is used but ENV is not declared."
    ]


@pytest.mark.django_db
def test_the_job_api_reads_and_writes_params(admin_api):
    body = {"name": "with-params", "script": "true", "params": DECLARED}
    response = admin_api.post("/api/jobs", body, format="json")
    assert response.status_code == 201, response.json()
    job_id = response.json()["data"]["id"]
    params = admin_api.get(f"/api/jobs/{job_id}").json()["data"]["params"]
    assert [item["name"] for item in params] == [item["name"] for item in DECLARED]
    assert params[1] == {
        "name": "COUNT",
        "type": "integer",
        "default": 3,
        "required": False,
        "choices": [],
        "secret": False,
        "help": "",
    }
    response = admin_api.patch(
        f"/api/jobs/{job_id}",
        {"params": [{"name": "X", "type": "choice", "choices": []}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["details"]["params"] == [
        "X: a choice parameter needs a non-empty list of choices."
    ]
    response = admin_api.patch(
        f"/api/jobs/{job_id}", {"params": [{"name": "X", "colour": "red"}]}, format="json"
    )
    assert response.status_code == 400  # an unknown key of a parameter is refused too


@pytest.mark.django_db
def test_the_openapi_schema_describes_params_and_followups(admin_api):
    schema = admin_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    job = components["JobOutput"]["properties"]
    assert "params" in job and "followups" in job
    assert set(components["ParamOutput"]["properties"]) == {
        "name",
        "type",
        "default",
        "required",
        "choices",
        "secret",
        "help",
    }
    assert "params" in components["JobInputRequest"]["properties"]
    trigger = schema["paths"]["/api/jobs/{id}/run"]["post"]
    assert "requestBody" in trigger
    run = components["RunDetailOutput"]["properties"]
    assert {"params", "chainedFrom", "chainedRuns"} <= set(run)
