"""Who a run's process is: the job user (uid, gid, groups, HOME/USER/LOGNAME), or an admin's
run-as choice from the server's list, never root or the server itself; a server holding
capabilities as a non-root user (systemd, Docker) passes none of them to the job; the mode in
force is reported the same way everywhere."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runs.models import RunStatus
from taskflow_site.lib import jobuser
from tests.factories import JobFactory
from tests.runs.helpers import engine_settings, lines, run_job

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
WHO = 'echo "$(id -u):$(id -g):$(id -G):$HOME:$USER:$LOGNAME"'


def _who(name: str) -> str:
    entry = pwd.getpwnam(name)
    groups = " ".join(str(gid) for gid in sorted(set(os.getgrouplist(name, entry.pw_gid))))
    return f"{entry.pw_uid}:{entry.pw_gid}:{groups}:{entry.pw_dir}:{name}:{name}"


def test_a_run_takes_on_the_job_users_identity(jobs_as):
    run = run_job(JobFactory(script=WHO, secret_env_vars={"TOKEN": "s3cret"}))
    assert run.status == RunStatus.SUCCESS, lines(run)
    assert lines(run, "stdout") == [_who(jobs_as)]
    assert f"running as {jobs_as}" in "\n".join(lines(run, "system"))


def test_an_admins_run_as_choice_wins(os_job_user):
    with engine_settings(JOB_USER=None, RUN_AS_USERS=[os_job_user]):
        run = run_job(JobFactory(script=WHO, run_as=os_job_user))
    assert lines(run, "stdout") == [_who(os_job_user)]


def test_a_run_as_user_no_longer_allowed_never_runs_as_the_server(os_job_user):
    job = JobFactory(script="echo ran", run_as=os_job_user)
    with engine_settings(JOB_USER=None, RUN_AS_USERS=[]):
        run = run_job(job)
    assert run.status == RunStatus.FAILURE
    assert lines(run, "stdout") == []
    assert "not an allowed run-as user" in run.error_message


def test_without_a_job_user_runs_keep_the_servers_uid(settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "JOB_USER": None}
    run = run_job(JobFactory(script="id -u"))
    assert lines(run, "stdout") == [str(os.geteuid())]


def test_the_modes_and_their_reasons(os_job_user, monkeypatch):
    assert not jobuser.isolation(None).separated
    assert "TASKFLOW_JOB_USER" in jobuser.isolation(None).describe()
    server = pwd.getpwuid(os.geteuid()).pw_name
    assert not jobuser.isolation(server).separated
    assert jobuser.isolation(os_job_user).separated
    jobuser.isolation.cache_clear()
    monkeypatch.setattr(jobuser, "can_switch", lambda: False)
    refused = jobuser.isolation(os_job_user)
    assert not refused.separated and "cannot switch users" in refused.describe()
    assert "only admins may change what a job runs" in refused.describe()
    jobuser.isolation.cache_clear()


def test_a_job_user_that_cannot_be_one_is_a_configuration_error():
    assert "no OS user" in jobuser.job_user_error("no-such-user-here")
    assert "root" in jobuser.job_user_error("0")
    assert jobuser.job_user_error(None) is None


def test_run_as_is_never_root_or_the_server():
    server = pwd.getpwuid(os.geteuid()).pw_name
    assert "root" in jobuser.run_as_refusal("root", ["root"])
    if server != "root":
        assert "server's own user" in jobuser.run_as_refusal(server, [server])
    assert "not an allowed" in jobuser.run_as_refusal("nobody", [])
    assert jobuser.run_as_refusal("nobody", ["nobody"]) is None


def test_health_says_which_mode_is_in_force(client, jobs_as):
    report = client.get("/health", REMOTE_ADDR="127.0.0.1").json()
    assert report["jobs"] == {
        "separated": True,
        "jobUser": jobs_as,
        "detail": jobuser.isolation(jobs_as).describe(),
    }


def _as_capable_server(probe: str) -> subprocess.CompletedProcess:
    """Run Python `probe` as the systemd unit runs the server: user nobody holding only
    CAP_SETUID/CAP_SETGID/CAP_KILL as ambient capabilities."""
    caps = "-all,+setuid,+setgid,+kill"
    return subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            f"--inh-caps={caps}",
            f"--ambient-caps={caps}",
            f"--bounding-set={caps}",
            "--",
            sys.executable,
            "-c",
            probe,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv (util-linux)")
def test_a_server_with_ambient_capabilities_passes_none_to_its_job(os_job_user):
    """The systemd unit's and the Docker image's way: the server is a plain user holding
    CAP_SETUID/CAP_SETGID/CAP_KILL as ambient capabilities. setuid() between two non-root
    users keeps capabilities, so without the drop the job could become the server again."""
    probe = (
        "import subprocess; from taskflow_site.lib import jobuser; "
        f"who = jobuser.identity_resolve({os_job_user!r}); "
        "print(subprocess.run(['sh', '-c', 'grep -E \"^Cap(Prm|Eff|Amb)\" /proc/self/status; "
        "id -u'], capture_output=True, text=True, **jobuser.spawn_options(who)).stdout)"
    )
    done = _as_capable_server(probe)
    found = dict(line.split(":\t") for line in done.stdout.splitlines() if ":\t" in line)
    assert found == {
        "CapPrm": "0000000000000000",
        "CapEff": "0000000000000000",
        "CapAmb": "0000000000000000",
    }, done.stdout
    assert str(pwd.getpwnam(os_job_user).pw_uid) in done.stdout


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv (util-linux)")
def test_a_server_that_cannot_read_a_jobs_environment_still_finds_its_escapees(os_job_user):
    """Without CAP_SYS_PTRACE the server cannot read the marker in a job user's
    /proc/<pid>/environ; its own children of that uid are then the run's (one run per drain)."""
    probe = (
        "import subprocess; from taskflow_site.lib import jobuser; "
        "from runs.engine import process; "
        f"who = jobuser.identity_resolve({os_job_user!r}); "
        "child = subprocess.Popen(['sleep', '30'], env={'TASKFLOW_RUN_ID': 'r1'}, "
        "**jobuser.spawn_options(who)); "
        "print(process.has_marker(child.pid, 'r1'), process.has_marker(child.pid, 'r1', who.uid), "
        "process.has_marker(child.pid, 'r1', who.uid + 1)); child.kill(); child.wait()"
    )
    done = _as_capable_server(probe)
    assert done.stdout.split() == ["False", "True", "False"], done.stderr
