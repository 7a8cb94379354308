"""An OS user to run jobs as, made for a test and removed after it (root only: CI runs as root)."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import subprocess

import psutil
import pytest

from taskflow_site.lib.jobuser import isolation


@pytest.fixture
def os_job_user():
    """A fresh system user (no home, no login shell); its name. Removed at teardown, with any
    process left under it."""
    if os.geteuid() != 0:
        pytest.skip("creating an OS user needs root (CI runs as root)")
    name = f"tfjob{secrets.token_hex(4)}"
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        check=True,
    )
    isolation.cache_clear()
    try:
        yield name
    finally:
        uid = pwd.getpwnam(name).pw_uid
        for proc in psutil.process_iter(["uids"]):  # the test's own leftovers, by pid
            if proc.info["uids"] and proc.info["uids"].real == uid:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        subprocess.run(["userdel", name], check=False)
        isolation.cache_clear()


@pytest.fixture
def jobs_as(settings, os_job_user):
    """This process's settings say jobs run as the fresh user (the web side of the rule)."""
    settings.TASKFLOW = {**settings.TASKFLOW, "JOB_USER": os_job_user}
    isolation.cache_clear()
    assert isolation(os_job_user).separated
    return os_job_user
