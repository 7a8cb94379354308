"""Who gets mail for which final state: notify_on always | failure | success | never."""

from __future__ import annotations

import pytest

from jobs.models import NotifyOn
from notifications.delivery import notification_deliver
from notifications.models import DeliveryStatus, Notification
from notifications.policy import notifications_plan
from runs.models import RunStatus
from tests.notifications.conftest import add_log, finished_run

pytestmark = pytest.mark.django_db


def deliver(run) -> list[Notification]:
    return [notification_deliver(notification_id=pk) for pk in notifications_plan(run=run)]


@pytest.mark.parametrize(
    ("notify_on", "status", "mailed"),
    [
        (NotifyOn.ALWAYS, RunStatus.SUCCESS, True),
        (NotifyOn.ALWAYS, RunStatus.FAILURE, True),
        (NotifyOn.ALWAYS, RunStatus.TIMEOUT, True),
        (NotifyOn.ALWAYS, RunStatus.CANCELLED, True),
        (NotifyOn.ALWAYS, RunStatus.SKIPPED, False),
        (NotifyOn.FAILURE, RunStatus.FAILURE, True),
        (NotifyOn.FAILURE, RunStatus.TIMEOUT, True),
        (NotifyOn.FAILURE, RunStatus.SUCCESS, False),
        (NotifyOn.FAILURE, RunStatus.CANCELLED, False),
        (NotifyOn.SUCCESS, RunStatus.SUCCESS, True),
        (NotifyOn.SUCCESS, RunStatus.FAILURE, False),
        (NotifyOn.SUCCESS, RunStatus.CANCELLED, False),
        (NotifyOn.NEVER, RunStatus.FAILURE, False),
        (NotifyOn.NEVER, RunStatus.SUCCESS, False),
    ],
)
def test_it_mails_per_notify_on(smtp_configured, mail_job, notify_on, status, mailed):
    mail_job.notify_on = notify_on
    mail_job.save()
    run = finished_run(mail_job, status)

    sent = deliver(run)

    assert len(smtp_configured.messages) == (2 if mailed else 0)
    assert all(n.status == DeliveryStatus.SENT for n in sent)
    assert Notification.objects.filter(run=run).count() == (2 if mailed else 0)


def test_it_sends_one_mail_per_recipient(smtp_configured, mail_job):
    deliver(finished_run(mail_job, RunStatus.FAILURE))
    assert sorted(r[0] for r in smtp_configured.recipients) == [
        "dev@example.com",
        "ops@example.com",
    ]


def test_it_reports_the_run_in_the_mail(smtp_configured, mail_job, settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "PUBLIC_URL": "https://tf.example.com"}
    run = finished_run(
        mail_job,
        RunStatus.FAILURE,
        exit_code=3,
        cpu_percent_max=87.5,
        memory_bytes_max=50 * 1024 * 1024,
        attempt=2,
    )
    add_log(run, 30)

    deliver(run)

    mail = smtp_configured.messages[0]
    assert "Subject: [TaskFlow] nightly-backup: FAILURE" in mail
    assert "Exit code: 3" in mail
    assert "Duration:  3.0 s" in mail
    assert "Peak CPU:  87.5 %" in mail
    assert "Peak RSS:  50.0 MiB" in mail
    assert f"https://tf.example.com/admin/runs/run/{run.pk}/change/" in mail
    assert "output line 30" in mail
    assert "output line 11" in mail
    assert "output line 10\n" not in mail  # only the last 20 lines


def test_it_never_sends_twice_for_the_same_run(smtp_configured, mail_job):
    run = finished_run(mail_job, RunStatus.FAILURE)
    first = notifications_plan(run=run)
    again = notifications_plan(run=run)  # a redelivered task plans again
    for pk in [*first, *again, *first]:
        notification_deliver(notification_id=pk)
    assert len(smtp_configured.messages) == 2
    assert Notification.objects.filter(run=run).count() == 2


def test_it_ignores_ad_hoc_tasks(smtp_configured):
    from tests.factories import RunFactory

    run = RunFactory(job=None, status=RunStatus.FAILURE, spec={"kind": "shell"})
    assert notifications_plan(run=run) == []


def test_it_records_a_failure_when_smtp_is_not_configured(db, mail_job):
    sent = deliver(finished_run(mail_job, RunStatus.FAILURE))
    assert [n.status for n in sent] == [DeliveryStatus.FAILED] * 2
    assert "not configured" in sent[0].error


def test_it_mails_a_repeated_address_once(smtp_configured, mail_job):
    mail_job.notify_emails = "ops@example.com, ops@example.com"
    mail_job.save()
    deliver(finished_run(mail_job, RunStatus.FAILURE))
    assert smtp_configured.recipients == [["ops@example.com"]]
