"""django-q2 entry points take ids and call one service (synchronously, in the worker)."""

from __future__ import annotations

import pytest

from notifications import tasks
from notifications.models import DeliveryStatus, Notification
from runs.models import RunStatus
from tests.notifications.conftest import finished_run

pytestmark = pytest.mark.django_db


def test_run_notify_task_plans_and_delivers_by_id(smtp_configured, mail_job):
    run = finished_run(mail_job, RunStatus.FAILURE)
    tasks.run_notify(str(run.pk))
    tasks.run_notify(str(run.pk))  # a redelivered task sends nothing more
    assert len(smtp_configured.messages) == 2
    assert set(Notification.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_deliver_task_ignores_unknown_or_claimed_ids(smtp_configured):
    tasks.notification_deliver(123456)
    assert smtp_configured.messages == []
