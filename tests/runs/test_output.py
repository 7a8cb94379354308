"""Output capture through the real executor: lines, streams, encodings, caps (C5, C6, C7)."""

from __future__ import annotations

import pytest

from runs.models import RunStatus
from tests.runs.helpers import engine_settings, leftovers, lines, run_script

pytestmark = pytest.mark.django_db


def test_it_keeps_stdout_and_stderr_lines_in_order_with_their_stream():
    run = run_script("echo one; echo two >&2; echo three")
    assert run.status == RunStatus.SUCCESS
    assert run.exit_code == 0
    assert lines(run, "stdout") == ["one", "three"]
    assert lines(run, "stderr") == ["two"]
    assert run.log_lines == len(lines(run))


def test_it_keeps_invalid_utf8_readable_and_strips_nul():  # C5
    run = run_script(r"printf 'ok\n\xff\xfe\x97bad\x00nul\n'; echo after")
    assert run.status == RunStatus.SUCCESS
    assert lines(run, "stdout") == ["ok", "\ufffd\ufffd\ufffdbadnul", "after"]


def test_it_flushes_a_final_partial_line():
    run = run_script("echo full; printf 'no newline'")
    assert lines(run, "stdout") == ["full", "no newline"]


def test_it_gives_stdin_an_immediate_eof():  # C7
    run = run_script('read x; echo "got[$x]"', timeout_seconds=10)
    assert run.status == RunStatus.SUCCESS
    assert lines(run, "stdout") == ["got[]"]
    assert run.duration_ms < 5000


def test_it_writes_system_lines_for_start_attempt_exit_and_duration():
    run = run_script("exit 3")
    system = lines(run, "system")
    assert "started on" in system[0]
    assert "(attempt 1/1)" in system[0]
    assert any(line.startswith("exit code 3 after") for line in system)
    assert run.status == RunStatus.FAILURE
    assert run.exit_code == 3
    assert run.error_message == "exit code 3"


@engine_settings(LOG_MAX_BYTES=64 * 1024)
def test_it_caps_the_log_keeping_head_and_tail():  # C4 (scaled down)
    run = run_script("seq 1 200000")
    assert run.status == RunStatus.SUCCESS
    stdout = lines(run, "stdout")
    assert stdout[0] == "1"
    assert stdout[-1] == "200000"
    assert sum(len(line) + 1 for line in stdout) <= 64 * 1024
    dropped = [line for line in lines(run, "system") if "bytes dropped" in line]
    assert len(dropped) == 1
    total = sum(len(str(n)) + 1 for n in range(1, 200001))
    assert run.log_dropped_bytes == total - sum(len(line) + 1 for line in stdout)
    assert dropped[0].startswith(f"{run.log_dropped_bytes} bytes dropped")


@engine_settings(LOG_MAX_BYTES=1024 * 1024)
def test_it_bounds_one_huge_line_without_newline():  # C6 (20 MB)
    run = run_script("head -c 20000000 /dev/zero | tr '\\0' x")
    assert run.status == RunStatus.SUCCESS
    stdout = lines(run, "stdout")
    assert sum(len(line) for line in stdout) <= 1024 * 1024
    assert stdout[-1].endswith("x")  # the tail was flushed at exit
    assert run.log_dropped_bytes > 18_000_000
    assert not leftovers(run)


@pytest.mark.e2e
@pytest.mark.django_db
def test_it_keeps_memory_bounded_under_a_flood_of_output():  # C4 (300 MB, default cap)
    import psutil

    me = psutil.Process()
    before = me.memory_info().rss
    run = run_script("head -c 300000000 /dev/zero | tr '\\0' x | fold -w 120")
    growth = me.memory_info().rss - before
    assert run.status == RunStatus.SUCCESS
    assert run.log_bytes > 300_000_000
    stored = sum(len(line) + 1 for line in lines(run, "stdout"))
    from django.conf import settings

    assert stored <= settings.TASKFLOW["LOG_MAX_BYTES"]
    assert run.log_dropped_bytes > 280_000_000
    assert growth < 100 * 2**20
