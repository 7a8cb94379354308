"""Notifications a dead process left behind: pending ones are delivered, half-sent ones are
marked failed (never sent twice)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.delivery import notifications_sweep
from notifications.models import DeliveryStatus, Notification
from notifications.policy import notifications_plan
from notifications.steps import notification_steps
from runs.models import RunStatus
from tests.notifications.conftest import finished_run
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_delivers_pending_notifications_left_behind(smtp_configured, mail_job):
    run = finished_run(mail_job, RunStatus.FAILURE)
    ids = notifications_plan(run=run)  # planned, then the process "died" before delivering
    Notification.objects.filter(pk__in=ids).update(created_at=timezone.now() - timedelta(minutes=5))
    fresh = finished_run(mail_job, RunStatus.FAILURE)
    notifications_plan(run=fresh)  # its own deliverer is still on it: left alone

    assert notifications_sweep() == 2
    wait_for(lambda: len(smtp_configured.messages) == 2)
    assert set(
        Notification.objects.filter(status=DeliveryStatus.SENT).values_list("run_id", flat=True)
    ) == {run.pk}
    assert Notification.objects.filter(run=fresh, status=DeliveryStatus.PENDING).count() == 2


def test_it_fails_notifications_stuck_while_sending(smtp_configured, mail_job):
    run = finished_run(mail_job, RunStatus.FAILURE)
    ids = notifications_plan(run=run)
    Notification.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.SENDING, created_at=timezone.now() - timedelta(hours=1)
    )
    assert notifications_sweep() == 0
    assert set(Notification.objects.values_list("status", flat=True)) == {DeliveryStatus.FAILED}
    assert smtp_configured.messages == []


def test_the_cluster_loop_runs_the_sweep():
    assert [step.name for step in notification_steps()] == ["notifications"]
