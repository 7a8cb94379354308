"""Crontab import (jobs.crontab, jobs.crontab_import): a realistic crontab through the API and
the admin page, the dry run and its next runs (the scheduler's own), idempotent re-import,
`%` as cron reads it, and /etc/crontab's user field as run-as."""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import AuditAction, AuditEntry
from jobs.crontab_import import crontab_import
from jobs.models import Job
from jobs.services import job_create
from jobs.timezones import server_timezone_name
from runs.engine.tick import tick_run
from runs.models import Run

pytestmark = pytest.mark.django_db

CRONTAB = r"""# m h  dom mon dow   command

SHELL=/bin/bash
PATH=/usr/local/bin:/usr/bin:/bin
MAILTO=ops@example.com,dev@example.com
CRON_TZ=Europe/Berlin

# Nightly database backup
@daily /usr/local/bin/backup-db --all

# Poll the queue
*/15 * * * * /opt/app/poll.sh >/dev/null 2>&1

# Weekday report
30 9 * * MON-FRI cd /srv/reports && ./make-report --month $(date +\%Y-\%m)

# New year greeting
0 0 1 JAN * cat%Happy new year,%the ops team%
MAILTO=""
@reboot /opt/app/start.sh
RANDOM_DELAY=5
61 * * * * /bin/never
this is not a line
"""
# Monday 2 March 2026, 10:07 UTC (11:07 in Berlin, CET)
NOW = datetime(2026, 3, 2, 10, 7, tzinfo=UTC)
EXPECTED = {
    "Nightly database backup": (
        "0 0 * * *",
        ["2026-03-02T23:00:00Z", "2026-03-03T23:00:00Z", "2026-03-04T23:00:00Z"],
    ),
    "Poll the queue": (
        "*/15 * * * *",
        ["2026-03-02T10:15:00Z", "2026-03-02T10:30:00Z", "2026-03-02T10:45:00Z"],
    ),
    "Weekday report": (
        "30 9 * * MON-FRI",
        ["2026-03-03T08:30:00Z", "2026-03-04T08:30:00Z", "2026-03-05T08:30:00Z"],
    ),
    "New year greeting": (
        "0 0 1 JAN *",
        ["2026-12-31T23:00:00Z", "2027-12-31T23:00:00Z", "2028-12-31T23:00:00Z"],
    ),
}


@pytest.fixture
def admin_anytime(admin_user):
    """An admin's API client whose credentials hold at any (travelled-to) time."""
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def _import(api, text=CRONTAB, **body):
    return api.post("/api/jobs/import", {"crontab": text, **body}, format="json")


@time_machine.travel(NOW, tick=False)
def test_the_dry_run_shows_each_job_and_its_next_3_runs_and_saves_nothing(admin_anytime):
    response = _import(admin_anytime, dryRun=True)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["dryRun"] is True and data["format"] == "user" and data["created"] == 0
    assert Job.objects.count() == 0
    jobs = {job["name"]: job for job in data["jobs"]}
    assert {name: (job["cron_expr"], job["nextRuns"]) for name, job in jobs.items()} == {
        name: (expr, runs) for name, (expr, runs) in EXPECTED.items()
    }
    for job in data["jobs"]:
        assert job["status"] == "new" and job["jobId"] is None
        assert job["timezone"] == "Europe/Berlin" and job["shell"] == "/bin/bash"
        assert job["env_vars"] == {"PATH": "/usr/local/bin:/usr/bin:/bin"}
        assert job["notify_emails"] == "ops@example.com, dev@example.com"
    assert jobs["Weekday report"]["script"] == (
        "cd /srv/reports && ./make-report --month $(date +%Y-%m)"  # \% is a literal %
    )
    reported = {line["line"]: line for line in data["reported"]}
    assert sorted(reported) == [20, 21, 22, 23]
    assert "@reboot" in reported[20]["reason"] and reported[20]["imported"] is False
    assert "RANDOM_DELAY" in reported[21]["reason"]
    assert "minute" in reported[22]["reason"] and reported[22]["text"] == "61 * * * * /bin/never"
    assert "not a crontab entry" in reported[23]["reason"]


def test_a_percent_line_feeds_the_rest_to_the_commands_standard_input(admin_api):
    text = "# greet\n0 0 1 JAN * cat | tr a-z A-Z%Happy new year,%100\\% done%\n"
    job = _import(admin_api, text)
    script = job.json()["data"]["jobs"][0]["script"]

    result = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=True)

    # the whole pipeline reads it; later %s are newlines; \% is a literal %
    assert result.stdout == "HAPPY NEW YEAR,\n100% DONE\n"


def test_the_import_makes_the_jobs_the_scheduler_fires_at_the_shown_times(admin_anytime):
    with time_machine.travel(NOW, tick=False):
        dry = _import(admin_anytime).json()["data"]
        response = _import(admin_anytime, dryRun=False)

    assert response.status_code == 201
    data = response.json()["data"]
    assert data["created"] == 4 and data["existing"] == 0
    assert {job["status"] for job in data["jobs"]} == {"created"}
    assert data["jobs"] == [
        {**job, "status": "created", "jobId": made["jobId"]}
        for job, made in zip(dry["jobs"], data["jobs"], strict=True)
    ]
    slots = []
    for shown in data["jobs"]:
        job = Job.objects.select_related("schedule").get(pk=shown["jobId"])
        assert job.created_by.username == "admin" and job.kind == "shell"
        assert job.schedule.cron_expr == shown["cron_expr"] and job.timezone == "Europe/Berlin"
        assert job.next_run_at == datetime.fromisoformat(shown["nextRuns"][0])
        runs = [datetime.fromisoformat(when) for when in shown["nextRuns"]]
        slots += [(when, index, job.pk, runs) for index, when in enumerate(runs)]
    # the scheduler, ticking at each shown time in turn, fires it and then waits for the next
    for when, index, job_id, runs in sorted(slots):
        tick_run(now=when)
        assert Run.objects.filter(job_id=job_id, scheduled_for=when).exists()
        if index < 2:
            assert Job.objects.get(pk=job_id).next_run_at == runs[index + 1]


def test_importing_twice_makes_no_duplicates_and_is_audited_each_time(admin_api):
    first = _import(admin_api, dryRun=False).json()["data"]
    again = _import(admin_api, dryRun=False)

    assert again.status_code == 200
    data = again.json()["data"]
    assert data["created"] == 0 and data["existing"] == 4
    assert [job["jobId"] for job in data["jobs"]] == [job["jobId"] for job in first["jobs"]]
    assert {job["status"] for job in data["jobs"]} == {"exists"}
    assert Job.objects.count() == 4
    imports = AuditEntry.objects.filter(action=AuditAction.IMPORT).order_by("at")
    assert [entry.changes["existing"] for entry in imports] == ["0", "4"]
    assert sorted(imports[0].changes["created"]["to"]) == sorted(EXPECTED)
    assert AuditEntry.objects.filter(action=AuditAction.CREATE, object_type="job").count() == 4


def test_the_identity_is_owner_zone_expression_and_script_not_the_name(admin_api, admin_user):
    by_hand = job_create(
        created_by=admin_user,
        name="made by hand",
        script="/opt/app/poll.sh",
        timezone=server_timezone_name(),  # a crontab without CRON_TZ: the server's zone
        schedule={"cron_expr": "*/15 * * * *"},
    )
    text = "# renamed\n*/15 * * * * /opt/app/poll.sh\n# again\n*/15 * * * * /opt/app/poll.sh\n"
    data = _import(admin_api, text, dryRun=False).json()["data"]

    assert data["created"] == 0
    assert data["jobs"][0]["status"] == "exists" and data["jobs"][0]["jobId"] == str(by_hand.pk)
    assert data["reported"] == [
        {
            "line": 4,
            "text": "*/15 * * * * /opt/app/poll.sh",
            "reason": "the same schedule and command as line 2",
            "imported": False,
        }
    ]
    other = _import(admin_api, text, dryRun=False, owner="owner")
    assert other.status_code == 400  # no such user yet


def test_jobs_imported_for_another_owner_are_theirs(admin_api, owner):
    data = _import(admin_api, "@hourly /bin/true\n", dryRun=False, owner="owner").json()["data"]

    assert data["owner"] == "owner"
    assert Job.objects.get(pk=data["jobs"][0]["jobId"]).created_by == owner


SYSTEM_CRONTAB = """SHELL=/bin/sh
# Clean temporary files
17 * * * * nobody find /tmp -mtime +7 -delete
# Rotate the logs
25 6 * * * root /usr/sbin/logrotate /etc/logrotate.conf
"""


def test_an_etc_crontab_user_field_becomes_run_as_when_allowed(admin_api, settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "RUN_AS_USERS": ["nobody"]}

    data = _import(admin_api, SYSTEM_CRONTAB, dryRun=False).json()["data"]

    assert data["format"] == "system"
    jobs = {job["name"]: job for job in data["jobs"]}
    assert jobs["Clean temporary files"]["run_as"] == "nobody"
    assert jobs["Clean temporary files"]["script"] == "find /tmp -mtime +7 -delete"
    assert Job.objects.get(pk=jobs["Clean temporary files"]["jobId"]).run_as == "nobody"
    assert jobs["Rotate the logs"]["run_as"] == ""  # root is never a run-as user
    [note] = data["reported"]
    assert note["line"] == 5 and note["imported"] is True
    assert "runs as root" in note["reason"] and "job user" in note["reason"]


def test_a_user_crontab_is_not_read_as_a_system_one(admin_api):
    data = _import(admin_api, "17 * * * * nobody-knows.sh --now\n").json()["data"]
    assert data["format"] == "user" and data["jobs"][0]["script"] == "nobody-knows.sh --now"
    forced = _import(admin_api, SYSTEM_CRONTAB, format="user").json()["data"]
    assert forced["jobs"][0]["script"] == "nobody find /tmp -mtime +7 -delete"


def test_a_bad_zone_is_reported_with_the_entries_it_would_schedule(admin_api):
    text = "CRON_TZ=Mars/Olympus\n0 1 * * * /bin/true\nCRON_TZ=UTC\n0 2 * * * /bin/false\n"
    data = _import(admin_api, text).json()["data"]

    assert [job["script"] for job in data["jobs"]] == ["/bin/false"]
    assert [line["line"] for line in data["reported"]] == [1, 2]
    assert "line 1" in data["reported"][1]["reason"]


def test_only_admins_import(owner_api, api):
    assert _import(owner_api).status_code == 403
    assert _import(api).status_code == 401
    assert Job.objects.count() == 0


def test_bad_input_is_a_400_naming_the_field(admin_api):
    assert _import(admin_api, dryRun="maybe").json()["details"]["dryRun"]
    assert _import(admin_api, bogus=1).json()["details"] == {"bogus": ["Unknown field."]}
    assert _import(admin_api, format="bsd").status_code == 400
    nul = _import(admin_api, "@daily /bin/true\x00\n")
    assert nul.status_code == 400 and "crontab" in nul.json()["details"]


# ---- the admin page ----


@time_machine.travel(NOW, tick=False)
def test_the_admin_page_shows_the_dry_run_then_imports(admin_client):
    page = admin_client.get("/admin/jobs/job/import/")
    assert page.status_code == 200 and b'name="crontab"' in page.content

    form = {"crontab": CRONTAB, "owner": "admin", "format": "auto"}
    preview = admin_client.post("/admin/jobs/job/import/", {**form, "preview": "1"})
    text = preview.content.decode()
    assert preview.status_code == 200 and Job.objects.count() == 0
    assert "Dry run: nothing is saved yet" in text and "Import 4 jobs" in text
    for name, (expr, runs) in EXPECTED.items():
        assert name in text and expr in text and all(when in text for when in runs)
    assert "@reboot: TaskFlow has no start-up trigger" in text

    done = admin_client.post("/admin/jobs/job/import/", {**form, "import": "1"})
    assert done.status_code == 200 and Job.objects.count() == 4
    assert "Imported: 4 new job(s), 0 already there." in done.content.decode()
    admin_client.post("/admin/jobs/job/import/", {**form, "import": "1"})
    assert Job.objects.count() == 4


def test_the_job_list_links_the_import_page_for_admins_only(admin_client, owner_client):
    assert b"data-tf-import-crontab" in admin_client.get("/admin/jobs/job/").content
    assert b"data-tf-import-crontab" not in owner_client.get("/admin/jobs/job/").content
    assert owner_client.get("/admin/jobs/job/import/").status_code == 403


def test_lines_without_a_command_are_reported(admin_api):
    text = "@daily\n0 1 * * *  %only input\n# a comment names\n\n@hourly /bin/true\n"
    data = _import(admin_api, text).json()["data"]

    assert [(line["line"], line["reason"]) for line in data["reported"]] == [
        (1, "no command (before any %)"),
        (2, "no command (before any %)"),
    ]
    assert data["jobs"][0]["name"] == "/bin/true"  # a blank line parts a comment from an entry


@pytest.mark.django_db(transaction=True)
def test_two_imports_at_once_make_each_job_once(admin_user):
    barrier = threading.Barrier(2)
    results, errors = [], []

    def one_import():
        try:
            barrier.wait(timeout=30)
            results.append(crontab_import(text=CRONTAB, owner=admin_user, dry_run=False))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_import) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == [] and len(results) == 2
    assert sorted(result["created"] for result in results) == [0, 4]
    assert Job.objects.count() == 4


def test_a_mailto_user_name_is_reported_and_the_addresses_kept(admin_api):
    text = "MAILTO=root,ops@example.com\n@hourly /bin/true\nSHELL=sh\n@daily /bin/true x\n"
    data = _import(admin_api, text).json()["data"]

    assert [job["notify_emails"] for job in data["jobs"]] == ["ops@example.com"] * 2
    assert [job["shell"] for job in data["jobs"]] == ["/bin/sh"] * 2  # cron's default
    assert [(line["line"], line["imported"]) for line in data["reported"]] == [
        (1, False),
        (3, False),
    ]
    assert "root" in data["reported"][0]["reason"]
    assert "absolute" in data["reported"][1]["reason"]
