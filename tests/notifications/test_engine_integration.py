"""Through the real executor: retries give one notification, for the final state (A2)."""

from __future__ import annotations

import time

import pytest

from jobs.models import NotifyOn
from notifications.models import DeliveryStatus, Notification
from runs.models import Run, RunStatus
from runs.services import run_enqueue
from tests.factories import JobFactory
from tests.runs.helpers import execute
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_sends_one_mail_for_the_final_attempt(smtp_configured, owner):
    job = JobFactory(
        name="flaky",
        created_by=owner,
        script="echo attempt; exit 3",
        retry_count=1,
        retry_delay_seconds=0,
        notify_on=NotifyOn.FAILURE,
        notify_emails="ops@example.com",
    )
    first, _ = run_enqueue(job=job, trigger_type="manual")
    first = execute(first)
    assert first.status == RunStatus.FAILURE
    retry = Run.objects.get(parent=first)
    assert not Notification.objects.exists()  # the first attempt will be retried: no mail

    retry = execute(retry)

    assert retry.status == RunStatus.FAILURE
    wait_for(lambda: Notification.objects.filter(status=DeliveryStatus.SENT).exists())
    # rows are planned before delivery starts, so this count is final: one row, one mail
    assert Notification.objects.count() == 1
    assert len(smtp_configured.messages) == 1
    mail = smtp_configured.messages[0]
    assert "Subject: [TaskFlow] flaky: FAILURE" in mail
    assert "Attempt:   2 of 2" in mail
    assert "Exit code: 3" in mail
    assert "[stdout] attempt" in mail
    assert list(Notification.objects.values_list("run_id", flat=True)) == [retry.pk]


def test_an_http_job_runs_through_the_executor(local_server, allow_loopback, owner):
    from tests.http.servers import Reply

    local_server.routes["/ping"] = Reply(200, b"pong")
    local_server.routes["/gone"] = Reply(410, b"gone")
    ok_job = JobFactory(created_by=owner, kind="http", http_url=local_server.url("/ping"))
    bad_job = JobFactory(created_by=owner, kind="http", http_url=local_server.url("/gone"))

    ok = execute(run_enqueue(job=ok_job, trigger_type="manual")[0])
    bad = execute(run_enqueue(job=bad_job, trigger_type="manual")[0])

    assert (ok.status, ok.exit_code) == (RunStatus.SUCCESS, 0)
    assert (bad.status, bad.exit_code) == (RunStatus.FAILURE, 1)
    from runs.services import run_log_lines

    assert [line.content for line in run_log_lines(run=ok) if line.stream == "stdout"] == ["pong"]


def test_a_private_http_target_fails_the_run(local_server, owner):
    from tests.http.servers import Reply

    local_server.routes["/ping"] = Reply(200, b"pong")
    job = JobFactory(created_by=owner, kind="http", http_url=local_server.url("/ping"))
    run = execute(run_enqueue(job=job, trigger_type="manual")[0])
    assert run.status == RunStatus.FAILURE
    assert local_server.requests == []


@pytest.mark.e2e
def test_runjob_delivers_its_mail_before_the_process_exits(processes, smtp_configured, owner):
    job = JobFactory(
        name="from-terminal",
        created_by=owner,
        script="echo hi; exit 4",
        notify_on=NotifyOn.FAILURE,
        notify_emails="ops@example.com",
    )
    proc = processes.manage("runjob", "runjob", str(job.pk))
    assert proc.wait(60) == 1, processes.log_text("runjob")
    # the mail went out while the command exited, not later by someone else's sweep
    assert len(smtp_configured.messages) == 1
    assert Notification.objects.get().status == DeliveryStatus.SENT


def test_an_http_job_past_its_timeout_ends_as_timeout(local_server, allow_loopback, owner):
    from tests.http.servers import Reply

    local_server.routes["/slow"] = Reply(hang=True)
    job = JobFactory(
        created_by=owner, kind="http", http_url=local_server.url("/slow"), timeout_seconds=1
    )
    started = time.monotonic()
    run = execute(run_enqueue(job=job, trigger_type="manual")[0])
    assert run.status == RunStatus.TIMEOUT
    assert time.monotonic() - started < 5


def test_an_http_job_cancelled_mid_request_ends_as_cancelled(local_server, allow_loopback, owner):
    import threading

    from runs.services import run_cancel
    from tests.http.servers import Reply

    local_server.routes["/slow"] = Reply(hang=True)
    job = JobFactory(
        created_by=owner, kind="http", http_url=local_server.url("/slow"), timeout_seconds=60
    )
    run, _ = run_enqueue(job=job, trigger_type="manual")

    def cancel_when_requested():
        wait_for(lambda: len(local_server.requests) == 1)
        run_cancel(run=Run.objects.get(pk=run.pk))

    canceller = threading.Thread(target=cancel_when_requested)
    canceller.start()
    started = time.monotonic()
    run = execute(run)
    canceller.join(10)
    assert run.status == RunStatus.CANCELLED
    assert time.monotonic() - started < 5
