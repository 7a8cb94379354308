"""GET /metrics: Prometheus text from the database; token, or loopback/allowlist only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from runs.models import RunStatus, TriggerType, WorkerHeartbeat, WorkerRole
from tests.factories import JobFactory, RunFactory

pytestmark = pytest.mark.django_db


def samples(body: bytes) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_it_exposes_runs_queue_durations_and_scheduler_lag(client, settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "METRICS_TOKEN": None}
    now = timezone.now()
    job = JobFactory()
    for duration in (50, 700, 20_000):
        RunFactory(job=job, status=RunStatus.SUCCESS, duration_ms=duration, finished_at=now)
    RunFactory(job=job, status=RunStatus.FAILURE, duration_ms=2000, finished_at=now)
    RunFactory(job=job, status=RunStatus.RUNNING)
    RunFactory(job=job, status=RunStatus.PENDING)
    RunFactory(job=job, status=RunStatus.PENDING, available_at=now + timedelta(hours=1))
    RunFactory(
        job=job,
        status=RunStatus.PENDING,
        trigger_type=TriggerType.SCHEDULED,
        scheduled_for=now - timedelta(seconds=3),
        available_at=now + timedelta(hours=2),
    )
    WorkerHeartbeat.objects.create(
        name="tick@h:1",
        role=WorkerRole.TICK,
        hostname="h",
        pid=1,
        started_at=now,
        heartbeat_at=now - timedelta(seconds=30),
    )

    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    found = samples(response.content)
    assert found[("taskflow_runs_finished_total", (("status", "success"),))] == 3
    assert found[("taskflow_runs_finished_total", (("status", "failure"),))] == 1
    assert found[("taskflow_runs_pending", ())] == 3
    assert found[("taskflow_runs_running", ())] == 1
    assert found[("taskflow_queue_depth", ())] == 1
    assert found[("taskflow_run_duration_seconds_bucket", (("le", "0.1"),))] == 1
    assert found[("taskflow_run_duration_seconds_bucket", (("le", "1.0"),))] == 2
    assert found[("taskflow_run_duration_seconds_bucket", (("le", "5.0"),))] == 3
    assert found[("taskflow_run_duration_seconds_bucket", (("le", "+Inf"),))] == 4
    assert found[("taskflow_run_duration_seconds_sum", ())] == pytest.approx(22.75)
    assert found[("taskflow_heartbeat_age_seconds", (("role", "tick"),))] == pytest.approx(
        30, abs=5
    )
    lateness = found[("taskflow_scheduler_last_slot_lateness_seconds", (("stage", "enqueued"),))]
    assert 3 <= lateness < 10


def test_it_refuses_remote_and_proxied_clients_without_a_token(client, settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "METRICS_TOKEN": None, "METRICS_ALLOWLIST": []}

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404
    proxied = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="8.8.8.8")
    assert proxied.status_code == 404


def test_it_admits_allowlisted_networks(client, settings):
    settings.TASKFLOW = {
        **settings.TASKFLOW,
        "METRICS_TOKEN": None,
        "METRICS_ALLOWLIST": ["10.0.0.0/8"],
    }

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 404


def test_it_requires_the_bearer_token_when_one_is_set(client, settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "METRICS_TOKEN": "s3cret-token"}

    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", REMOTE_ADDR="127.0.0.1")
    assert wrong.status_code == 401
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", REMOTE_ADDR="10.9.9.9")
    assert right.status_code == 200
    assert b"taskflow_runs" in right.content
