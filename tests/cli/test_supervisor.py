"""`taskflow run`: one supervised tree (daphne + cluster) that leaves nothing behind."""

import signal
import sys

import psutil
import pytest

from tests.support.processes import child_env, free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def start_taskflow(processes, tmp_path):
    port = free_port()
    argv = [sys.executable, "-m", "taskflow_site.cli", "run", "--port", str(port)]
    argv += ["--data-dir", str(tmp_path / "data"), "--no-color"]
    proc = processes.start("taskflow", argv, env=child_env())
    wait_for(
        lambda: "is ready" in processes.log_text("taskflow") or proc.poll() is not None,
        timeout=90,
        message="taskflow run to report ready",
    )
    assert proc.poll() is None, processes.log_text("taskflow")
    return proc, port


def tree_of(pid):
    return psutil.Process(pid).children(recursive=True)


def test_ctrl_c_stops_every_child(processes, tmp_path):
    """SIGINT here; SIGTERM is covered (with a running job) by test_graceful_stop.py."""
    proc, port = start_taskflow(processes, tmp_path)
    out = processes.log_text("taskflow")
    assert f"http://127.0.0.1:{port}/" in out
    assert f"open http://127.0.0.1:{port}/setup" in out  # no user yet: setup is next
    descendants = tree_of(proc.pid)
    commands = [" ".join(child.cmdline()) for child in descendants]
    assert any("taskflow_site.cli.web" in command for command in commands)
    assert any("qcluster" in command for command in commands)

    proc.send_signal(signal.SIGINT)

    assert proc.wait(30) == 0
    _, alive = psutil.wait_procs(descendants, timeout=5)
    assert alive == []
    assert "Stopping TaskFlow (SIGINT)" in processes.log_text("taskflow")
    assert "TaskFlow stopped." in processes.log_text("taskflow")


def test_a_child_that_dies_stops_everything_with_a_non_zero_exit(processes, tmp_path):
    proc, _ = start_taskflow(processes, tmp_path)
    descendants = tree_of(proc.pid)
    web = next(child for child in descendants if "taskflow_site.cli.web" in child.cmdline())

    web.kill()

    assert proc.wait(30) == 1
    assert "the web process exited with code -9" in processes.log_text("taskflow")
    _, alive = psutil.wait_procs(descendants, timeout=5)
    assert alive == []


def shared_dirty_kib(pid):
    """Memory written before a fork and still shared with the parent's other children."""
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        line = next(line for line in rollup if line.startswith("Shared_Dirty:"))
    return int(line.split()[1])


def test_web_and_cluster_fork_from_one_loaded_django(processes, tmp_path):
    """Issue 14: the zygote loads Django once and is gone; its children share that image."""
    proc, _ = start_taskflow(processes, tmp_path)
    children = psutil.Process(proc.pid).children()
    commands = [" ".join(child.cmdline()) for child in children]
    assert len(children) == 2, commands  # web and cluster, re-parented to us; no zygote left
    web = next(child for child in children if "taskflow_site.cli.web" in child.cmdline())
    cluster = next(child for child in children if "qcluster" in child.cmdline())
    # an exec'd process shares no written memory with anyone; these share the zygote's heap
    assert shared_dirty_kib(web.pid) > 8 * 1024
    assert shared_dirty_kib(cluster.pid) > 8 * 1024

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
