"""run_metrics: a run's samples and summary."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from metrics import services
from metrics.models import MetricSample
from metrics.services import run_metrics
from runs.models import RunStatus
from tests.factories import RunFactory

pytestmark = pytest.mark.django_db


def add_samples(run, values):
    start = timezone.now()
    MetricSample.objects.bulk_create(
        MetricSample(
            run=run,
            timestamp=start + timedelta(seconds=2 * index),
            cpu_percent=cpu,
            memory_bytes=mem,
            memory_percent=1.5,
        )
        for index, (cpu, mem) in enumerate(values)
    )


def test_it_lists_samples_in_order_and_summarises_a_running_run():
    run = RunFactory(status=RunStatus.RUNNING)
    add_samples(run, [(50.0, 100), (100.0, 300)])

    data = run_metrics(run=run)

    assert [s["cpuPercent"] for s in data["samples"]] == [50.0, 100.0]
    assert set(data["samples"][0]) == {"timestamp", "cpuPercent", "memoryBytes", "memoryPercent"}
    assert data["samples"][0]["timestamp"].endswith("Z")
    assert data["summary"]["cpuPercentAvg"] == 75.0
    assert data["summary"]["memoryBytesMax"] == 300
    assert data["summary"]["sampleCount"] == 2


def test_it_prefers_the_run_rows_own_summary_once_finished():
    run = RunFactory(
        status=RunStatus.SUCCESS,
        cpu_percent_avg=12.0,
        cpu_percent_max=40.0,
        memory_bytes_avg=10,
        memory_bytes_max=20,
        duration_ms=4000,
    )
    add_samples(run, [(50.0, 100)])

    summary = run_metrics(run=run)["summary"]

    assert (summary["cpuPercentAvg"], summary["memoryBytesMax"], summary["duration"]) == (
        12.0,
        20,
        4000,
    )


def test_it_thins_long_sample_series(monkeypatch):
    monkeypatch.setattr(services, "MAX_RUN_SAMPLES", 10)
    run = RunFactory(status=RunStatus.SUCCESS)
    add_samples(run, [(float(i), i) for i in range(35)])

    data = run_metrics(run=run)

    assert len(data["samples"]) == 10
    assert data["samples"][0]["cpuPercent"] == 0.0
    assert data["summary"]["sampleCount"] == 35
    assert data["summary"]["cpuPercentMax"] == 34.0
