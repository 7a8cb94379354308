"""GET /health: 200 when the database answers and every process role beats, else 503 naming why."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from runs.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


def beat(role, age_seconds=0):
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        name=f"{role}@test:1",
        role=role,
        hostname="test",
        pid=1,
        started_at=now - timedelta(seconds=age_seconds),
        heartbeat_at=now - timedelta(seconds=age_seconds),
    )


def test_it_is_healthy_when_every_role_beats(client):
    for role in settings.TASKFLOW_HEALTH_ROLES:
        beat(role)
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == settings.VERSION
    assert set(body["checks"]) == {"database", *settings.TASKFLOW_HEALTH_ROLES}
    assert "problems" not in body


def test_it_reports_the_database_settings_of_the_web_process(client):
    body = client.get("/health").json()
    database = body["database"]
    if database["vendor"] == "sqlite":
        assert database["journal_mode"] == "wal"
        assert database["foreign_keys"] is True
        assert database["busy_timeout_ms"] >= 5000
    assert database["ok"] is True


def test_it_is_503_naming_a_missing_cluster(client):
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["cluster"] == "missing"
    assert "no cluster heartbeat (is the cluster running?)" in body["problems"]


def test_it_is_503_naming_a_stale_heartbeat(client):
    for role in settings.TASKFLOW_HEALTH_ROLES:
        beat(role)
    WorkerHeartbeat.objects.filter(role="cluster").update(
        heartbeat_at=timezone.now() - timedelta(seconds=120)
    )
    body = client.get("/health").json()
    assert body["checks"]["cluster"].startswith("stale (")
    assert any(problem.startswith("cluster heartbeat is 1") for problem in body["problems"])


def test_it_is_503_when_the_database_does_not_answer(client, monkeypatch):
    from taskflow_site import views

    def broken_cursor(*args, **kwargs):
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(views.connection, "cursor", broken_cursor)
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "error: OperationalError"
    assert "database is not answering" in body["problems"]
