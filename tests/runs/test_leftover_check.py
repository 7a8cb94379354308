"""After a run, the executor looks for what the script left behind only when something is
there to find: as the runs' subreaper it has no child at all after a clean run (one waitid()
call says so), and then reads nothing of /proc; an escaped leftover still makes it look, and
is killed."""

from __future__ import annotations

import os

import pytest

from runs.engine import process
from runs.models import RunStatus
from tests.runs.helpers import leftovers, lines, run_script

pytestmark = pytest.mark.django_db


@pytest.fixture
def proc_reads(monkeypatch):
    """Every listing of this process's /proc task directory (where its children are read)
    once the run's own process has exited (the monitor reads the live tree before that)."""
    seen: list[str] = []
    exited = []
    real_listdir, real_try_reap = os.listdir, process.try_reap

    def listdir(path="."):
        if exited and str(path).startswith("/proc/self"):
            seen.append(str(path))
        return real_listdir(path)

    def try_reap(proc):
        code, rusage = real_try_reap(proc)
        if code is not None:
            exited.append(code)
        return code, rusage

    monkeypatch.setattr(process.os, "listdir", listdir)
    monkeypatch.setattr(process, "try_reap", try_reap)
    return seen


def test_has_children_sees_a_child_until_it_is_reaped():
    if process.has_children():
        pytest.skip("this test process has children of its own")
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    assert process.has_children()  # exited, not yet collected: still there to find
    assert process.has_children()  # asking reaps nothing
    os.waitpid(pid, 0)
    assert not process.has_children()


def test_a_clean_run_reads_no_list_of_our_children(subreaper, proc_reads):
    if process.has_children():
        pytest.skip("this test process has children of its own")
    run = run_script("echo done")

    assert run.status == RunStatus.SUCCESS
    assert lines(run, "stdout") == ["done"]
    assert proc_reads == []  # after the exit: nothing read of /proc


def test_an_escaped_leftover_is_still_found_and_killed(subreaper, proc_reads):
    # setsid: out of the run's process group; its parent exits, so it is re-parented to us
    run = run_script("(setsid sleep 300 &); echo started")

    assert run.status == RunStatus.SUCCESS
    assert proc_reads  # something was left: the executor looked
    assert any("killed 1 leftover process" in line for line in lines(run, "system")), lines(run)
    assert not leftovers(run)
    assert not process.has_children()
