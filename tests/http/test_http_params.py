"""HTTP jobs with parameters: {{params.NAME}} in URL (percent-encoded), headers and body,
replaced when the run executes, secret values masked in the log, and netguard judging the
final URL."""

from __future__ import annotations

import json

import pytest

from jobs.services import job_create
from runs.engine.httpjob import NETWORK_ERROR_EXIT, http_run
from runs.models import RunStatus, TriggerType
from runs.services import run_enqueue
from runs.spec import RunSpec
from tests.http.servers import Reply
from tests.runs.helpers import execute, lines

pytestmark = pytest.mark.django_db


def test_values_reach_url_headers_and_body_and_secrets_stay_masked(
    local_server, allow_loopback, owner
):
    local_server.routes["/deploy/a%2Fb%3Fc"] = Reply(200, b"ok hunter2")
    job = job_create(
        created_by=owner,
        name="hook",
        kind="http",
        http_method="POST",
        http_url=local_server.url("/deploy/{{params.PATH}}?token={{params.TOKEN}}"),
        http_headers={"X-Env": "{{ params.ENV }}", "Authorization": "Bearer {{params.TOKEN}}"},
        http_body='{"env": "{{params.ENV}}", "dry": {{params.DRY}}}',
        params=[
            {"name": "PATH", "default": "x"},
            {"name": "ENV", "type": "choice", "choices": ["prod", "test"], "default": "test"},
            {"name": "DRY", "type": "boolean", "default": True},
            {"name": "TOKEN", "secret": True, "required": True},
        ],
    )
    run, _ = run_enqueue(
        job=job,
        trigger_type=TriggerType.MANUAL,
        params={"PATH": "a/b?c", "ENV": "prod", "DRY": False, "TOKEN": "hunter2"},
    )
    assert "hunter2" not in json.dumps(run.spec)
    run = execute(run)
    assert run.status == RunStatus.SUCCESS, lines(run)
    [request] = local_server.requests
    assert request.path == "/deploy/a%2Fb%3Fc?token=hunter2"
    assert request.headers["X-Env"] == "prod"
    assert request.headers["Authorization"] == "Bearer hunter2"
    assert json.loads(request.body) == {"env": "prod", "dry": False}
    log = "\n".join(lines(run))
    assert "hunter2" not in log
    assert "token=***" in log  # the request line, masked
    assert "ok ***" in lines(run, "stdout")  # the response body, masked


def test_netguard_judges_the_url_after_substitution(local_server):
    local_server.routes["/ok"] = Reply(200, b"reached")
    log: list[tuple[str, str]] = []
    for host in ("127.0.0.1", "169.254.169.254"):
        spec = RunSpec(
            kind="http",
            url=f"http://{{{{params.HOST}}}}:{local_server.port}/ok",
            params={"HOST": host},
        )
        code = http_run(spec=spec, emit=lambda s, t: log.append((s, t)), should_stop=lambda: False)
        assert code == NETWORK_ERROR_EXIT
    assert local_server.requests == []
    assert any("loopback" in text for _, text in log)
