"""E13: schemathesis against our own /api/schema/, as an admin and as a user: no 5xx, every
response (errors too) conforms to the schema, bad input gets a 4xx with the error envelope.

Bounded: EXAMPLES per operation and generation mode (TASKFLOW_FUZZ_EXAMPLES raises it for a
deeper run), the whole sweep a few minutes. Operations that would end the session being tested
(logout, password change) or send real mail are covered by their own tests instead.
"""

from __future__ import annotations

import contextlib
import os

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from rest_framework.throttling import SimpleRateThrottle
from schemathesis import GenerationMode

from accounts.services import token_pair_for
from tests.factories import RunFactory

EXCLUDED = {
    ("POST", "/api/auth/logout"),
    ("POST", "/api/auth/password"),
    ("POST", "/api/settings/smtp/test"),
    ("DELETE", "/api/users/{id}"),
}
EXAMPLES = int(os.environ.get("TASKFLOW_FUZZ_EXAMPLES", "10"))


@pytest.fixture
def wsgi_app(monkeypatch):
    # the real WSGI handler closes "old" connections around each request, which would drop
    # the test's transaction; Django's own test client disconnects these the same way
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"login": "100000/min", "run": "100000/min", "user": "100000/min"},
    )
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _checks():
    return [
        schemathesis.checks.not_a_server_error,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
        schemathesis.checks.response_schema_conformance,
        schemathesis.checks.negative_data_rejection,
    ]


def _sweep(app, user, modes) -> int:
    schema = schemathesis.openapi.from_wsgi("/api/schema/", app)
    checks = _checks()
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in EXCLUDED:
            continue
        for mode in modes:

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def check(case):
                nonlocal calls
                # a fresh token per call: a generated PUT may have revoked the last one
                token = token_pair_for(user)["access"]
                response = case.call(headers={"Authorization": f"Bearer {token}"})
                calls += 1
                case.validate_response(response, checks=checks)

            # Unsatisfiable: nothing to make invalid (no parameters, no body)
            with contextlib.suppress(hypothesis.errors.Unsatisfiable):
                check()
    return calls


@pytest.mark.django_db
@pytest.mark.slow
@pytest.mark.parametrize(
    ("persona", "modes"),
    [
        ("admin_user", (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
        # a user is refused most operations early; valid requests are what probe RBAC
        ("owner", (GenerationMode.POSITIVE,)),
    ],
)
def test_it_answers_every_generated_request_without_a_server_error(
    request, wsgi_app, persona, modes
):
    user = request.getfixturevalue(persona)
    RunFactory(job__created_by=user)  # something to find for list endpoints
    calls = _sweep(wsgi_app, user, modes)
    assert calls > 50
