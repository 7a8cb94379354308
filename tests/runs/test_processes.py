"""Process handling through the real executor: leftovers, timeout, cancel, environment,
working dir, samples (C1, C2, A5, C10)."""

from __future__ import annotations

import os
import threading
import time

import psutil
import pytest

from runs.models import Run, RunStatus
from runs.services import run_cancel, run_enqueue_task
from runs.spec import RunSpec
from tests.factories import JobFactory
from tests.runs.helpers import engine_settings, execute, leftovers, lines, run_job, run_script


def _children() -> set[int]:
    """This test process's children, running or exited and not collected (zombies)."""
    return {child.pid for child in psutil.Process().children()}


def _cancel_once_up(run) -> threading.Thread:
    """From another thread: cancel the run (twice: a cancel is idempotent) once it has
    printed "up" (its first line after the system line of its start); join() it after."""

    def cancel():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            current = Run.objects.get(pk=run.pk)
            if current.status == RunStatus.RUNNING and current.log_lines >= 2:
                time.sleep(0.3)
                run_cancel(run=current)
                run_cancel(run=current)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=cancel)
    thread.start()
    return thread


@pytest.mark.django_db
def test_it_kills_a_background_leftover_and_ends_promptly():  # C1
    children = _children()
    started = time.monotonic()
    run = run_script("sleep 300 & echo started; exit 0")
    assert time.monotonic() - started < 4
    assert run.status == RunStatus.SUCCESS
    assert lines(run, "stdout") == ["started"]
    assert any("killed 1 leftover process" in line and "sleep" in line for line in lines(run)), (
        lines(run)
    )
    assert not leftovers(run)
    assert _children() <= children


@pytest.mark.django_db
@engine_settings(KILL_GRACE_SECONDS=2)
def test_it_times_out_with_term_then_kill_and_keeps_partial_output():  # A5 (grace 2 s)
    job = JobFactory(script="trap '' TERM; echo begin; sleep 600", timeout_seconds=2, retry_count=3)
    started = time.monotonic()
    run = run_job(job)
    elapsed = time.monotonic() - started
    assert run.status == RunStatus.TIMEOUT
    assert 3.5 < elapsed < 7
    assert lines(run, "stdout") == ["begin"]
    system = lines(run, "system")
    assert any("timeout after 2 s: sending SIGTERM" in line for line in system)
    assert any("sending SIGKILL" in line for line in system)
    assert not Run.objects.filter(parent=run).exists()  # a timeout is never retried
    assert not leftovers(run)


@pytest.mark.django_db(transaction=True)
@engine_settings(KILL_GRACE_SECONDS=2)
def test_it_cancels_a_tree_with_an_escaped_process(subreaper):  # C2
    # as a drain worker, this process adopts what escapes the run's group, and must collect it
    children = _children()
    script = (
        "python3 -c 'import time; time.sleep(600)' & sleep 600 & setsid sleep 600 & echo up; wait"
    )
    run, _ = run_enqueue_task(spec=RunSpec(kind="shell", script=script))
    canceller = _cancel_once_up(run)
    started = time.monotonic()
    done = execute(run)
    canceller.join()
    assert done.status == RunStatus.CANCELLED
    assert time.monotonic() - started < 15
    assert not leftovers(done)
    assert _children() <= children
    assert run_cancel(run=done).status == RunStatus.CANCELLED


@pytest.mark.django_db(transaction=True)
@engine_settings(KILL_GRACE_SECONDS=2)
def test_a_killed_escapee_still_exiting_is_collected_before_the_run_ends(subreaper):
    # 1 GiB written: its exit takes a while to give the pages back, long after SIGTERM, and
    # meanwhile it has no environment to read; it is ours to collect before the run ends
    children = _children()
    script = (
        'setsid python3 -c \'x = bytes(range(256)) * (4 * 2**20); print("up", flush=True);'
        " import time; time.sleep(600)' & wait"
    )
    run, _ = run_enqueue_task(spec=RunSpec(kind="shell", script=script))
    canceller = _cancel_once_up(run)
    done = execute(run)
    canceller.join()
    assert done.status == RunStatus.CANCELLED
    assert not leftovers(done)
    assert _children() <= children


@pytest.mark.django_db
def test_it_passes_no_server_secret_and_masks_job_secrets(monkeypatch):  # C10
    monkeypatch.setenv("JWT_SECRET", "server-jwt-value")
    monkeypatch.setenv("DATABASE_URL", "postgres://user:dbpass@host/db")
    monkeypatch.setenv("TASKFLOW_SMTP_PASSWORD", "smtp-pass-value")
    monkeypatch.setenv("SECRET_KEY", "django-secret-value")
    job = JobFactory(
        script="env | sort; echo token=$API_TOKEN",
        env_vars={"PLAIN": "visible"},
        secret_env_vars={"API_TOKEN": "tok-123456"},
    )
    run = run_job(job)
    text = "\n".join(lines(run))
    for secret in ("server-jwt-value", "dbpass", "smtp-pass-value", "django-secret-value"):
        assert secret not in text
    assert "JWT_SECRET" not in text and "DATABASE_URL" not in text
    assert "tok-123456" not in text
    assert "token=***" in text
    assert "PLAIN=visible" in text
    assert f"TASKFLOW_RUN_ID={run.pk}" in text
    assert f"TASKFLOW_JOB_ID={job.pk}" in text
    assert "PYTHONUNBUFFERED=1" in text


@pytest.mark.django_db
def test_it_fails_cleanly_when_the_working_dir_is_missing():
    run = run_script("pwd", working_dir="/nonexistent/dir")
    assert run.status == RunStatus.FAILURE
    assert "working directory /nonexistent/dir does not exist" in run.error_message
    assert any("does not exist" in line for line in lines(run, "system"))


@pytest.mark.django_db
def test_it_runs_in_the_working_dir_with_a_command_argv(tmp_path):
    run_, _ = run_enqueue_task(
        spec=RunSpec(kind="command", argv=("pwd",), working_dir=str(tmp_path))
    )
    run = execute(run_)
    assert lines(run, "stdout") == [str(tmp_path)]


@pytest.mark.django_db
@engine_settings(METRICS_INTERVAL=0.2)
def test_it_samples_the_process_tree_and_summarises():
    run = run_script("python3 -c 'x=bytearray(30_000_000); import time; time.sleep(1.2)' & wait")
    samples = list(run.samples.all())
    assert len(samples) >= 2
    assert max(sample.memory_bytes for sample in samples) > 30_000_000  # the grandchild counted
    assert run.memory_bytes_max >= 30_000_000
    assert run.cpu_percent_max is not None


@pytest.mark.django_db
def test_it_samples_at_least_once_for_a_short_run():
    run = run_script("sleep 0.15")  # over long before the next sample (METRICS_INTERVAL)
    (sample,) = run.samples.all()
    assert 0 < sample.memory_bytes <= run.memory_bytes_max < 20 * 1024 * 1024


@pytest.mark.django_db
def test_it_leaves_no_open_descriptors_behind():  # C3, scaled to this process
    children = _children()
    run_script("true")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(30):
        run_script("echo x")
    assert len(os.listdir("/proc/self/fd")) <= before + 2
    assert _children() <= children
