"""System checks refuse Q_CLUSTER timings that would redeliver or kill a running drain (A4)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.test import override_settings

from runs.checks import check_q_cluster
from tests.support.processes import ROOT, child_env


def _ids(q_cluster: dict) -> list[str]:
    with override_settings(Q_CLUSTER=q_cluster):
        return [error.id for error in check_q_cluster()]


def test_it_accepts_the_shipped_settings():
    assert check_q_cluster() == []


def test_it_refuses_retry_not_above_timeout():
    conf = {**settings.Q_CLUSTER, "retry": settings.Q_CLUSTER["timeout"]}
    assert _ids(conf) == ["runs.E003"]


def test_it_refuses_a_timeout_below_the_longest_job_plus_grace():
    conf = {**settings.Q_CLUSTER, "timeout": settings.TASKFLOW["MAX_JOB_TIMEOUT"]}
    assert "runs.E002" in _ids(conf)


def test_it_refuses_unbounded_attempts():
    conf = {**settings.Q_CLUSTER, "max_attempts": 0}
    assert _ids(conf) == ["runs.E004"]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_start_the_cluster_with_bad_timings():
    env = child_env(DJANGO_SETTINGS_MODULE="tests.runs.bad_qcluster_settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Q_CLUSTER['retry']" in result.stderr
    assert "Q_CLUSTER['timeout']" in result.stderr
