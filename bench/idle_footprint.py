"""Idle footprint of `taskflow run` (target: <= 200 MB RSS for all processes, ~0 % CPU).

Starts the real supervisor (daphne + qcluster with its workers) on a scratch data dir, waits
for /health, lets it settle, then samples every process of the tree for --seconds: memory as
USS (what each process alone holds, the honest sum) and RSS (shared pages counted again in
each process, an upper bound), and CPU % of one core over the window.
Usage: uv run python bench/idle_footprint.py [--settle 15] [--seconds 30] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("taskflow run did not become healthy")


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=15)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="taskflow-bench-idle-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(TASKFLOW_DATA_DIR=data_dir, TASKFLOW_CONFIG=os.devnull, TASKFLOW_LOG_LEVEL="warn")
    argv = [sys.executable, "-m", "taskflow_site.cli", "run", "--port", str(port)]
    argv += ["--workers", str(args.workers)]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(port)
        time.sleep(args.settle)
        procs = tree(proc.pid)
        cpu_before = {p.pid: sum(p.cpu_times()[:2]) for p in procs}
        started = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - started
        rows = []
        for p in tree(proc.pid):
            try:
                info = p.memory_full_info()
                cpu = sum(p.cpu_times()[:2]) - cpu_before.get(p.pid, 0.0)
                rows.append((p.pid, " ".join(p.cmdline()[1:4])[:60], info.uss, info.rss, cpu))
            except psutil.Error:
                continue
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            for p in tree(proc.pid):
                p.kill()
    mib = 1024 * 1024
    print(f"{'pid':>7}  {'USS MiB':>8}  {'RSS MiB':>8}  {'CPU %':>6}  command")
    for pid, command, uss, rss, cpu in rows:
        share = 100 * cpu / elapsed
        print(f"{pid:>7}  {uss / mib:8.1f}  {rss / mib:8.1f}  {share:6.2f}  {command}")
    total_uss = sum(row[2] for row in rows) / mib
    total_rss = sum(row[3] for row in rows) / mib
    total_cpu = 100 * sum(row[4] for row in rows) / elapsed
    print(f"processes: {len(rows)}  USS total {total_uss:.0f} MiB  RSS total {total_rss:.0f} MiB")
    print(f"CPU over {elapsed:.0f} s idle: {total_cpu:.2f} % of one core")
    print(f"target: <= 200 MB for all processes, ~0 % CPU -> USS {total_uss * mib / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
