"""job_create / job_update / job_set_enabled / job_delete / job_preview / job_next_run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import override_settings

from jobs.models import Job, JobKind, Schedule
from jobs.schedule import ScheduleError
from jobs.services import (
    job_create,
    job_delete,
    job_next_run,
    job_preview,
    job_set_enabled,
    job_update,
)
from runs.models import Run, RunStatus
from tests.factories import RunFactory

pytestmark = pytest.mark.django_db


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make(owner, schedule=None, **fields) -> Job:
    fields.setdefault("name", "backup")
    fields.setdefault("script", "echo hi")
    return job_create(created_by=owner, schedule=schedule, **fields)


def field_errors(call, **kwargs) -> dict:
    with pytest.raises(ValidationError) as caught:
        call(**kwargs)
    return caught.value.message_dict


@time_machine.travel(at(2025, 6, 2, 10, 0), tick=False)
def test_it_creates_a_job_that_first_fires_at_the_next_slot_not_now(owner):  # B7
    job = make(owner, {"hours": [12], "minutes": [0]})
    assert job.next_run_at == at(2025, 6, 2, 12, 0)
    assert Schedule.objects.get(job=job).hours == [12]
    assert not Run.objects.exists()


@time_machine.travel(at(2025, 6, 2, 10, 0), tick=False)
def test_it_stores_next_run_in_utc_from_the_jobs_zone(owner):
    job = make(owner, {"cron_expr": "0 12 * * *"}, timezone="Europe/Berlin")
    assert job.next_run_at == at(2025, 6, 3, 10, 0)  # 12:00 CEST today is 10:00Z == now


@time_machine.travel(at(2025, 6, 2, 10, 0), tick=False)
def test_it_leaves_a_job_without_schedule_manual_only(owner):
    job = make(owner)
    assert job.next_run_at is None
    assert job_next_run(job=job, after=at(2025, 6, 2)) is None


@time_machine.travel(at(2025, 6, 2, 10, 0), tick=False)
def test_it_recomputes_next_run_when_the_schedule_or_zone_changes(owner):
    job = make(owner, {"hours": [12], "minutes": [0]})
    job = job_update(job=job, schedule={"hours": [15], "minutes": [30]})
    assert job.next_run_at == at(2025, 6, 2, 15, 30)
    job = job_update(job=job, timezone="America/New_York")
    assert job.next_run_at == at(2025, 6, 2, 19, 30)
    assert Job.objects.get(pk=job.pk).next_run_at == at(2025, 6, 2, 19, 30)
    job = job_update(job=job, schedule=None)
    assert job.next_run_at is None
    assert not Schedule.objects.filter(job=job).exists()


def test_it_keeps_an_overdue_next_run_when_only_the_script_changes(owner):
    with time_machine.travel(at(2025, 6, 2, 10, 0), tick=False):
        job = make(owner, {"hours": [12], "minutes": [0]})
    with time_machine.travel(at(2025, 6, 4, 9, 0), tick=False):  # server was down
        job = job_update(job=job, script="echo changed")
    assert job.next_run_at == at(2025, 6, 2, 12, 0)  # the catch-up policy still sees it


def test_it_clears_next_run_on_disable_and_starts_fresh_on_enable(owner):
    with time_machine.travel(at(2025, 6, 2, 10, 0), tick=False):
        job = make(owner, {"hours": [12], "minutes": [0]})
        job = job_set_enabled(job=job, enabled=False)
        assert job.next_run_at is None and not job.enabled
    with time_machine.travel(at(2025, 6, 5, 13, 0), tick=False):
        job = job_set_enabled(job=job, enabled=True)
    assert job.next_run_at == at(2025, 6, 6, 12, 0)  # no past slot


def test_it_creates_a_disabled_job_with_no_next_run(owner):
    job = make(owner, {"minutes": [0]}, enabled=False)
    assert job.next_run_at is None


def test_it_raises_schedule_errors_by_field(owner):
    with pytest.raises(ScheduleError) as caught:
        make(owner, {"minutes": [60], "months": [13]})
    assert set(caught.value.errors) == {"minutes", "months"}
    assert not Job.objects.exists()


def test_it_reports_job_and_schedule_errors_together(owner):
    errors = field_errors(make, owner=owner, schedule={"minutes": [60]}, script="")
    assert "A shell job needs a script." in errors["script"]
    assert "schedule.minutes" in errors


def test_it_rejects_an_unknown_zone_as_a_field_error(owner):  # B9
    errors = field_errors(make, owner=owner, schedule={"minutes": [0]}, timezone="Nowhere/City")
    assert "Unknown time zone" in errors["timezone"][0]


@override_settings(TASKFLOW={"MAX_JOB_TIMEOUT": 600, "MAX_QUEUED_PER_JOB": 5})
def test_it_validates_job_fields_with_messages(owner):
    errors = field_errors(
        make,
        owner=owner,
        timeout_seconds=601,
        notify_emails="ok@example.com, not-an-address, x@y.z\nBcc: evil@example.com",
        env_vars={"GOOD": "1", "1BAD": "x", "with-dash": "x", "TASKFLOW_RUN_ID": "x", "N": 5},
        working_dir="relative/dir",
        retry_exit_codes=[0, 300],
        webhook_urls=["ftp://example.com/x"],
        max_queued=0,
        overlap_policy="sometimes",
    )
    assert errors["timeout_seconds"] == ["Must be between 1 and 600 seconds."]
    assert len(errors["notify_emails"]) == 2
    env_messages = " ".join(errors["env_vars"])
    assert "'1BAD'" in env_messages and "'with-dash'" in env_messages
    assert "reserved" in env_messages and "N: the value must be a string" in env_messages
    assert "GOOD" not in env_messages
    assert set(errors) >= {"working_dir", "retry_exit_codes", "webhook_urls", "max_queued"}
    assert "overlap_policy" in errors


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": JobKind.SHELL, "script": "  "}, "script"),
        ({"kind": JobKind.COMMAND, "command": []}, "command"),
        ({"kind": JobKind.COMMAND, "command": "ls -l"}, "command"),
        ({"kind": JobKind.COMMAND, "command": ["ls", 5]}, "command"),
        ({"kind": JobKind.HTTP, "http_url": ""}, "http_url"),
        (
            {"kind": JobKind.HTTP, "http_url": "https://x.test", "http_method": "BREW"},
            "http_method",
        ),
        (
            {
                "kind": JobKind.HTTP,
                "http_url": "https://x.test",
                "http_headers": {"A": "b\r\nC: d"},
            },
            "http_headers",
        ),
    ],
)
def test_it_checks_what_each_kind_needs(owner, fields, field):
    fields = {"name": "k", "script": "", **fields}
    assert field in field_errors(job_create, created_by=owner, **fields)


def test_it_accepts_a_command_and_an_http_job(owner):
    command = job_create(created_by=owner, name="c", kind=JobKind.COMMAND, command=["ls", "-l"])
    http = job_create(created_by=owner, name="h", kind=JobKind.HTTP, http_url="https://x.test/a")
    assert command.pk and http.pk


def test_it_refuses_fields_that_are_not_editable(owner):
    errors = field_errors(make, owner=owner, next_run_at=at(2030, 1, 1), id="x")
    assert set(errors) == {"next_run_at", "id"}


def test_it_updates_atomically_and_leaves_nothing_half_done_on_error(owner):
    job = make(owner, {"minutes": [0]})
    with pytest.raises(ScheduleError):
        job_update(job=job, name="renamed", schedule={"minutes": [99]})
    job.refresh_from_db()
    assert job.name == "backup"
    assert Schedule.objects.get(job=job).minutes == [0]


@time_machine.travel(at(2025, 3, 29, 12), tick=False)
def test_it_previews_what_the_scheduler_will_do():  # B5
    fires = job_preview(schedule={"cron_expr": "30 2 * * *"}, tz_name="Europe/Berlin", count=2)
    assert fires == [at(2025, 3, 30, 1, 0), at(2025, 3, 31, 0, 30)]
    with pytest.raises(ScheduleError):
        job_preview(schedule={"hours": [25]}, tz_name="UTC")
    assert len(job_preview(schedule={}, tz_name="UTC", count=10_000)) == 100


def test_it_deletes_a_job_with_its_schedule_and_history(owner):
    job = make(owner, {"minutes": [0]})
    run = RunFactory(job=job, status=RunStatus.PENDING)
    job_delete(job=job)
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not Run.objects.filter(pk=run.pk).exists()
