"""`taskflow start | status | health | restart | stop` on a real daemon, and stale PID files."""

import subprocess
import sys

import psutil
import pytest

from taskflow_site.cli import daemon, main
from tests.support.processes import child_env, free_port, kill_tree, wait_for


def taskflow(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "taskflow_site.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def pid_in(path):
    return int(path.read_text())


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_it_starts_reports_restarts_and_stops_a_daemon(tmp_path):
    data = tmp_path / "data"
    pid_file = data / "taskflow.pid"
    env = child_env(TASKFLOW_DATA_DIR=str(data), TASKFLOW_PORT=str(free_port()))
    started_pids = []
    try:
        assert taskflow(env, "status").returncode == 3
        assert taskflow(env, "health").returncode == 1

        started = taskflow(env, "start")
        assert started.returncode == 0, started.stderr
        pid = pid_in(pid_file)
        started_pids.append(pid)
        assert "TaskFlow started" in started.stdout
        assert (data / "logs" / "taskflow.log").exists()
        status = taskflow(env, "status")
        assert status.returncode == 0 and f"running (pid {pid})" in status.stdout
        assert taskflow(env, "health").returncode == 0
        again = taskflow(env, "start")
        assert again.returncode == 0 and "already running" in again.stdout
        assert pid_in(pid_file) == pid
        old_children = psutil.Process(pid).children(recursive=True)

        # a reload: the same supervisor (and socket), new web process and cluster
        restarted = taskflow(env, "restart")
        assert restarted.returncode == 0, restarted.stderr
        assert "TaskFlow restarted" in restarted.stdout
        new_pid = pid_in(pid_file)
        assert new_pid == pid
        # the old cluster hands over: its drains return at their next wake-up, then django-q2
        # stops its pusher, workers and monitor in turn (seconds idle; a bound for loaded CI)
        _, alive = psutil.wait_procs(old_children, timeout=120)
        assert alive == [], (data / "logs" / "taskflow.log").read_text()[-4000:]

        new_tree = [psutil.Process(new_pid), *psutil.Process(new_pid).children(recursive=True)]
        stopped = taskflow(env, "stop")
        assert stopped.returncode == 0 and "TaskFlow stopped." in stopped.stdout
        assert not pid_file.exists()
        _, alive = psutil.wait_procs(new_tree, timeout=5)
        assert alive == []
        assert taskflow(env, "status").returncode == 3
        assert taskflow(env, "stop").returncode == 0
        assert "is ready" in (data / "logs" / "taskflow.log").read_text()
    finally:
        for pid in started_pids:
            kill_tree(pid)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TASKFLOW_PORT", str(free_port()))
    return tmp_path


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_status_reports_and_removes_a_pid_file_of_a_dead_process(data_dir, capsys):
    pid_file = data_dir / "taskflow.pid"
    pid_file.write_text(f"{dead_pid()}\n")
    assert main(["status"]) == 1
    assert "stale PID file" in capsys.readouterr().err
    assert not pid_file.exists()
    assert main(["status"]) == 3


def test_a_pid_file_naming_another_program_is_stale(data_dir, processes, capsys):
    other = processes.start("sleeper", ["sleep", "30"])
    pid_file = data_dir / "taskflow.pid"
    pid_file.write_text(f"{other.pid}\n")
    assert main(["stop"]) == 0
    assert "stale PID file" in capsys.readouterr().err
    assert other.poll() is None  # never signalled: it is not ours
    assert not pid_file.exists()


def test_a_garbled_pid_file_is_stale(data_dir):
    (data_dir / "taskflow.pid").write_text("not a pid\n")
    assert main(["status"]) == 1


def test_stop_kills_a_daemon_that_ignores_sigterm_and_its_children(
    data_dir, processes, monkeypatch, capsys
):
    stubborn = data_dir / "taskflow"  # named like us, so the PID file is not "stale"
    stubborn.write_text(
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen(['sleep', '60'])\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = processes.start("stubborn", [sys.executable, str(stubborn), "run"])
    wait_for(lambda: "ready" in processes.log_text("stubborn"), timeout=30)
    tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    assert len(tree) == 2
    (data_dir / "taskflow.pid").write_text(f"{proc.pid}\n")
    monkeypatch.setattr(daemon, "STOP_TIMEOUT", 1.0)

    assert main(["stop"]) == 0

    assert "sending SIGKILL" in capsys.readouterr().err
    proc.wait(5)
    _, alive = psutil.wait_procs(tree, timeout=5)
    assert alive == []
    assert not (data_dir / "taskflow.pid").exists()


@pytest.mark.e2e
def test_start_reports_a_daemon_that_dies_while_starting(tmp_path):
    data = tmp_path / "data"
    env = child_env(TASKFLOW_DATA_DIR=str(data), TASKFLOW_PORT=str(free_port()))
    env.pop("DATABASE_URL", None)
    env["TASKFLOW_DB_PATH"] = "/proc/taskflow-cannot-be-here/taskflow.db"
    started = taskflow(env, "start")
    assert started.returncode == 1
    assert "TaskFlow exited during start (code 1)" in started.stderr
    assert str(data / "logs" / "taskflow.log") in started.stderr
    assert "migrations failed" in (data / "logs" / "taskflow.log").read_text()
    assert not (data / "taskflow.pid").exists()
