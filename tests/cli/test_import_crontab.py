"""`taskflow import-crontab [--dry-run] [--owner USER] [FILE|-]`: the real command line, which
runs `manage.py import_crontab` with this configuration (jobs.crontab_import does the work)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobs.models import Job
from tests.factories import AdminFactory, UserFactory
from tests.support.processes import child_env

pytestmark = pytest.mark.django_db(transaction=True)

CRONTAB = """MAILTO=ops@example.com
CRON_TZ=UTC
# Nightly backup
@daily /usr/local/bin/backup --all
# Every quarter hour on weekdays
*/15 8-18 * * MON-FRI /opt/poll.sh
@reboot /opt/start.sh
"""


def taskflow(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "taskflow_site.cli", *args],
        env=child_env(NO_COLOR="1"),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_dry_run_from_stdin_shows_the_jobs_and_saves_nothing():
    AdminFactory(username="boss")

    result = taskflow("import-crontab", "--dry-run", "-", stdin=CRONTAB)

    assert result.returncode == 0, result.stderr
    assert "line 4: would create 'Nightly backup': 0 0 * * * (UTC)" in result.stdout
    assert "line 6: would create 'Every quarter hour on weekdays'" in result.stdout
    assert result.stdout.count("    next: ") == 2
    assert "dry run: 2 job(s) would be created for boss" in result.stdout
    assert "line 7: not imported: @reboot" in result.stderr
    assert not Job.objects.exists()


def test_an_import_from_a_file_for_an_owner_then_again_makes_no_duplicates(tmp_path):
    AdminFactory(username="boss")
    UserFactory(username="alice")
    crontab = tmp_path / "crontab"
    crontab.write_text(CRONTAB)

    first = taskflow("import-crontab", "--owner", "alice", str(crontab))
    again = taskflow("import-crontab", "--owner", "alice", str(crontab))

    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert "created 2 job(s) for alice, 0 already there" in first.stdout
    assert "created 0 job(s) for alice, 2 already there" in again.stdout
    jobs = Job.objects.filter(created_by__username="alice")
    assert sorted(jobs.values_list("name", flat=True)) == [
        "Every quarter hour on weekdays",
        "Nightly backup",
    ]
    assert {job.notify_emails for job in jobs} == {"ops@example.com"}


def test_usage_errors_are_readable_with_exit_code_2(tmp_path):
    AdminFactory(username="boss")
    AdminFactory(username="other-boss")

    no_owner = taskflow("import-crontab", "-", stdin=CRONTAB)
    no_file = taskflow("import-crontab", "--owner", "boss", str(tmp_path / "missing"))
    no_user = taskflow("import-crontab", "--owner", "nobody-here", "-", stdin=CRONTAB)
    bad_flag = taskflow("import-crontab", "--format", "bsd", "-", stdin=CRONTAB)

    assert no_owner.returncode == 2 and "--owner USER" in no_owner.stderr
    assert no_file.returncode == 2 and "cannot read" in no_file.stderr
    assert no_user.returncode == 2 and "'nobody-here'" in no_user.stderr
    assert bad_flag.returncode == 2 and "invalid choice" in bad_flag.stderr
    assert not Job.objects.exists()
