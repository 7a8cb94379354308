"""Noise control: notify only on a change of state, and a daily cap per job; what was
suppressed is recorded and counted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from jobs.models import NotifyOn
from notifications.delivery import notification_deliver
from notifications.models import DeliveryStatus, Notification
from notifications.policy import notifications_plan
from runs.models import RunStatus, TriggerType
from tests.notifications.conftest import finished_run

pytestmark = pytest.mark.django_db


def deliver(run) -> list:
    return [notification_deliver(notification_id=pk) for pk in notifications_plan(run=run)]


@pytest.fixture
def change_job(mail_job):
    mail_job.notify_emails = "ops@example.com"
    mail_job.notify_on = NotifyOn.FAILURE
    mail_job.notify_on_change_only = True
    mail_job.save()
    return mail_job


def test_it_mails_the_first_failure_after_success(smtp_configured, change_job):
    finished_run(change_job, RunStatus.SUCCESS, minutes_ago=10)
    deliver(finished_run(change_job, RunStatus.FAILURE))
    assert len(smtp_configured.messages) == 1


def test_it_mails_a_first_failure_with_no_history(smtp_configured, change_job):
    deliver(finished_run(change_job, RunStatus.FAILURE))
    assert len(smtp_configured.messages) == 1


def test_it_suppresses_a_repeated_failure_and_records_why(smtp_configured, change_job):
    finished_run(change_job, RunStatus.FAILURE, minutes_ago=10)
    run = finished_run(change_job, RunStatus.TIMEOUT)  # timeout counts as failure
    assert deliver(run) == []
    assert smtp_configured.messages == []
    row = Notification.objects.get(run=run)
    assert row.status == DeliveryStatus.SUPPRESSED
    assert row.reason == "no state change (still failure)"


def test_it_mails_the_recovery_to_failure_subscribers(smtp_configured, change_job):
    finished_run(change_job, RunStatus.FAILURE, minutes_ago=10)
    deliver(finished_run(change_job, RunStatus.SUCCESS))
    assert len(smtp_configured.messages) == 1
    assert "nightly-backup: SUCCESS" in smtp_configured.messages[0]


def test_it_does_not_mail_success_after_success(smtp_configured, change_job):
    change_job.notify_on = NotifyOn.ALWAYS
    change_job.save()
    finished_run(change_job, RunStatus.SUCCESS, minutes_ago=10)
    deliver(finished_run(change_job, RunStatus.SUCCESS))
    assert smtp_configured.messages == []


def test_it_compares_with_the_previous_run_not_this_runs_own_attempts(smtp_configured, change_job):
    finished_run(change_job, RunStatus.SUCCESS, minutes_ago=30)
    first = finished_run(change_job, RunStatus.FAILURE, minutes_ago=5)
    retry = finished_run(
        change_job, RunStatus.FAILURE, parent=first, attempt=2, trigger_type=TriggerType.RETRY
    )
    deliver(retry)
    assert len(smtp_configured.messages) == 1


def test_it_caps_notifications_per_job_per_day(smtp_configured, change_job):
    change_job.notify_on_change_only = False
    change_job.notify_daily_cap = 2
    change_job.save()
    runs = [finished_run(change_job, RunStatus.FAILURE, minutes_ago=5 - i) for i in range(4)]
    for run in runs:
        deliver(run)

    assert len(smtp_configured.messages) == 2
    suppressed = Notification.objects.filter(status=DeliveryStatus.SUPPRESSED)
    assert sorted(n.run_id for n in suppressed) == sorted(r.pk for r in runs[2:])
    assert {n.reason for n in suppressed} == {"daily cap of 2 reached"}
    assert Notification.objects.suppressed_run_count(job=change_job) == 2


def test_it_reports_the_suppressed_count_in_the_next_mail(smtp_configured, change_job):
    change_job.notify_on_change_only = False
    change_job.notify_daily_cap = 1
    change_job.timezone = "Europe/Berlin"
    change_job.save()
    with time_machine.travel(datetime(2025, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        deliver(finished_run(change_job, RunStatus.FAILURE))
        deliver(finished_run(change_job, RunStatus.FAILURE))
        deliver(finished_run(change_job, RunStatus.FAILURE))
    assert len(smtp_configured.messages) == 1
    # 22:30 UTC is already the next day in Berlin: the cap starts again
    with time_machine.travel(datetime(2025, 6, 1, 22, 30, tzinfo=UTC), tick=False):
        deliver(finished_run(change_job, RunStatus.FAILURE))
    assert len(smtp_configured.messages) == 2
    assert "Suppressed since the last notification: 2 run(s)" in smtp_configured.messages[1]
