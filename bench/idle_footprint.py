"""Idle footprint of `taskflow run` (target: <= 150 MB for all processes, <= 0.5 % of a core).

Starts the real supervisor (daphne + qcluster with its workers) on a scratch data dir, waits
for /health, lets it settle, then measures every process of the tree over --seconds: memory as
PSS (each page divided among the processes sharing it: forked children share most of their
parent's pages, so the sum of PSS is the honest total), with USS (what each process alone
holds) and RSS (shared pages counted again in each process, an upper bound) beside it; CPU as
% of one core over the window, including processes that came and went during it (their time
reaches the supervisor's children counters when they are reaped).
It runs the product as deploy/ installs it: an environment of its own without the dev group
(`uv sync --frozen --no-dev`; the test tools' packages are absent, so optional imports such as
jinja2, which django.test loads when it is there, find nothing), with bytecode compiled into a
cache outside the tree (PYTHONPYCACHEPREFIX): a checkout without .pyc files (e.g. under
PYTHONDONTWRITEBYTECODE) compiles every module in every process, which leaves ~30 MB more heap.
Usage: uv run python bench/idle_footprint.py [--settle 40] [--seconds 60] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _engine

ROOT = Path(__file__).resolve().parents[1]


def wait_healthy(port: int, timeout: float = 90) -> None:
    def healthy() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            return answer.status == 200

    _engine.wait_until(healthy, timeout, "taskflow run to become healthy")


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=40, help="start-up steps first")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="taskflow-bench-idle-")
    port = _engine.free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(TASKFLOW_DATA_DIR=data_dir, TASKFLOW_CONFIG=os.devnull, TASKFLOW_LOG_LEVEL="warn")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "taskflow-pycache"))
    python = installed_python()
    compiled = [python, "-m", "compileall", "-q", "-j", "0", "-x", _SKIP, *_code_dirs(python)]
    subprocess.run(compiled, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    argv = [python, "-m", "taskflow_site.cli", "run", "--port", str(port)]
    argv += ["--workers", str(args.workers)]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_healthy(port)
        time.sleep(args.settle)
        procs = tree(proc.pid)
        cpu_before = {p.pid: _cpu(p) for p in procs}
        started = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - started
        rows = []
        for p in tree(proc.pid):
            try:
                info = p.memory_full_info()
                cpu = _cpu(p) - cpu_before.get(p.pid, 0.0)
                command = " ".join(p.cmdline()[1:4])[:60]
                rows.append((p.pid, command, info.pss, info.uss, info.rss, cpu))
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
    print(f"{'pid':>7}  {'PSS MiB':>8}  {'USS MiB':>8}  {'RSS MiB':>8}  {'CPU %':>6}  command")
    for pid, command, pss, uss, rss, cpu in rows:
        share = 100 * cpu / elapsed
        sizes = f"{pss / mib:8.1f}  {uss / mib:8.1f}  {rss / mib:8.1f}"
        print(f"{pid:>7}  {sizes}  {share:6.2f}  {command}")
    total_pss, total_uss, total_rss = (sum(row[i] for row in rows) / mib for i in (2, 3, 4))
    total_cpu = 100 * sum(row[5] for row in rows) / elapsed
    print(
        f"processes: {len(rows)}  PSS total {total_pss:.0f} MiB ({total_pss * mib / 1e6:.0f} MB)"
        f"  USS total {total_uss:.0f} MiB  RSS total {total_rss:.0f} MiB"
    )
    print(f"CPU over {elapsed:.0f} s idle: {total_cpu:.2f} % of one core")
    verdict = "ok" if total_pss * mib / 1e6 <= 150 and total_cpu <= 0.5 else "MISSES"
    print(f"target: <= 150 MB (PSS) and <= 0.5 % of a core -> {verdict}")


# never imported by the product: the standard library's tests and tools, the base
# interpreter's own site-packages (ours are the virtualenv's)
_SKIP = (
    re.escape(sysconfig.get_paths()["stdlib"]) + "/(test|idlelib|lib2to3|turtledemo|site-packages)/"
)


def installed_python() -> str:
    """The interpreter of an environment holding what deploy/ installs (made or brought up to
    date by uv, a few seconds when it exists)."""
    venv = Path(tempfile.gettempdir()) / "taskflow-bench-installed"
    uv = shutil.which("uv", path=str(ROOT / ".tools" / "bin")) or shutil.which("uv")
    if uv is None:
        sys.exit("uv is needed to install the product as deploy/ does: run `make .venv/.synced`")
    sync = [uv, "sync", "--frozen", "--no-dev", "--compile-bytecode", "-q"]
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    subprocess.run(sync, cwd=ROOT, env=env, check=True, stderr=subprocess.DEVNULL)
    return str(venv / "bin" / "python")


def _code_dirs(python: str) -> list[str]:
    """The standard library, the installed packages and ours (compileall skips what is fresh)."""
    ask = "import sysconfig; p = sysconfig.get_paths(); print(p['stdlib']); print(p['purelib'])"
    paths = subprocess.run([python, "-c", ask], capture_output=True, text=True, check=True)
    ours = [str(ROOT / d) for d in ("accounts", "jobs", "runs", "metrics", "notifications")]
    return [*paths.stdout.split(), *ours, str(ROOT / "taskflow_site")]


def _cpu(p: psutil.Process) -> float:
    """CPU seconds of the process and of its children it has reaped (a drain that returned,
    a job that ran: their time counts too)."""
    times = p.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


if __name__ == "__main__":
    main()
