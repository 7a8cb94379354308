"""Shared set-up for the engine benches: a fresh data dir and a fresh database of the chosen
configuration, a real qcluster, and the peers from ../shared/peers (floor.py functions,
django-q2's bench_djq.py, Celery + Redis's bench_celery.py), run from a copy of that folder.

Configurations (CONFIGS): "sqlite", "sqlite+redis", "postgres", "postgres+redis". PostgreSQL
gets a database of its own per bench process (created here, dropped at exit; never `test`);
Redis a database number of its own (BENCH_REDIS_URL).

Not a test. Import this before Django: it points TASKFLOW_DATA_DIR at a temp dir.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(os.environ.get("TASKFLOW_PEERS_DIR", ROOT.parent / "shared" / "peers"))
PEERS_PYTHON = os.environ.get("TASKFLOW_PEERS_PYTHON", "/tmp/peers-venv/bin/python")
CONFIGS = ("sqlite", "sqlite+redis", "postgres", "postgres+redis")
# the server a PostgreSQL bench creates its own database on (as a superuser), and Redis
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
_INHERITED = ("DATABASE_URL", "TASKFLOW_DATABASE_URL", "REDIS_URL", "TASKFLOW_REDIS_URL")


def setup(config: str = "sqlite", **env: str) -> dict[str, str]:
    """Fresh data dir and database of `config` for this bench; returns the environment for
    children. Nothing is inherited by accident: no DATABASE_URL or REDIS_URL but the chosen."""
    if config not in CONFIGS:
        raise SystemExit(f"unknown configuration {config!r}; choose from {', '.join(CONFIGS)}")
    data_dir = tempfile.mkdtemp(prefix="taskflow-bench-")
    for name in (*_INHERITED, "TASKFLOW_TESTING"):
        os.environ.pop(name, None)
    chosen = {}
    if config.startswith("postgres"):
        chosen["DATABASE_URL"] = _fresh_postgres_database()
    if config.endswith("+redis"):
        chosen["REDIS_URL"] = REDIS_URL
    os.environ.update(
        {
            "TASKFLOW_DATA_DIR": data_dir,
            "TASKFLOW_CONFIG": os.devnull,
            "DJANGO_SETTINGS_MODULE": "taskflow_site.settings",
            "TASKFLOW_LOG_LEVEL": "warn",
            "PYTHONUNBUFFERED": "1",
            **chosen,
            **env,
        }
    )
    sys.path.insert(0, str(ROOT))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=os.environ
    )
    import django

    django.setup()
    return dict(os.environ)


def _fresh_postgres_database() -> str:
    """CREATE DATABASE taskflow_bench_<pid>_<time> (dropped when this process exits)."""
    import psycopg

    name = f"taskflow_bench_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    atexit.register(_drop_postgres_database, name)
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _drop_postgres_database(name: str) -> None:
    import psycopg

    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # Django never set up: nothing to close
        pass
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_vendor() -> str:
    from django.db import connection

    return connection.vendor


def start_cluster(workers: int = 1, timeout: float = 120) -> subprocess.Popen:
    from runs.models import WorkerHeartbeat

    log = open(Path(os.environ["TASKFLOW_DATA_DIR"]) / "qcluster.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster", "--workers", str(workers)],
        cwd=ROOT,
        env=os.environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    drains = WorkerHeartbeat.objects.filter(role="worker", retired_at=None)
    while drains.count() < workers:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("qcluster did not start a drain loop; see qcluster.log")
        time.sleep(0.1)
    return proc


def start_web_and_cluster(workers: int | None = None) -> tuple[list[subprocess.Popen], int]:
    """daphne on a free loopback port and qcluster, each in a group of its own, logging into
    the data dir; returns them (for stop_processes) and the port once both serve."""
    data_dir = Path(os.environ["TASKFLOW_DATA_DIR"])
    port = free_port()
    daphne = str(Path(sys.executable).with_name("daphne"))
    cluster = [sys.executable, "manage.py", "qcluster"]
    if workers is not None:
        cluster += ["--workers", str(workers)]
    procs = []
    for argv, log in (
        ([daphne, "-b", "127.0.0.1", "-p", str(port), "taskflow_site.asgi:application"], "daphne"),
        (cluster, "qcluster"),
    ):
        with open(data_dir / f"{log}.log", "wb") as out:
            procs.append(
                subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env=os.environ,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        from runs.models import WorkerHeartbeat

        wait_until(lambda: port_open(port), 60, "daphne's port")
        wait_until(WorkerHeartbeat.objects.filter(role="cluster").exists, 60, "cluster")
    except BaseException:
        stop_processes(procs)
        raise
    return procs, port


def stop_processes(procs: list[subprocess.Popen], timeout: float = 30) -> None:
    """SIGTERM to each (started with start_new_session: the leader of its group) in order,
    so qcluster stops its django-q2 children itself; then SIGKILL to whatever is left of
    each group, so no straggler outlives the bench."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def stop_cluster(proc: subprocess.Popen) -> None:
    stop_processes([proc])


_PEERS_COPY: list[Path] = []


def peers_dir() -> Path:
    """A private copy of the peers' folder: their drivers write results and databases beside
    themselves, and shared/ is not ours to write in."""
    if not _PEERS_COPY:
        copy = Path(tempfile.mkdtemp(prefix="taskflow-peers-")) / "peers"
        shutil.copytree(PEERS, copy)
        for path in (copy, *copy.rglob("*")):
            if path.is_dir():
                path.chmod(0o755)
        for folder in ("djq", "celery"):
            (copy / folder / "out").mkdir(exist_ok=True)
        atexit.register(shutil.rmtree, copy.parent, True)
        _PEERS_COPY.append(copy)
    return _PEERS_COPY[0]


def floor_module():
    """The peers' floor.py, imported so a bench can run just the trials it needs."""
    path = peers_dir() / "floor.py"
    spec = importlib.util.spec_from_file_location("peers_floor", path)
    module = importlib.util.module_from_spec(spec)
    saved = sys.argv
    sys.argv = [str(path)]
    try:
        spec.loader.exec_module(module)
    finally:
        sys.argv = saved
    return module


def floor_rate(trials: int = 3) -> float:
    """`bash -c true` spawned and reaped in a loop (floor.py): runs/s, median of trials."""
    floor = floor_module()
    return floor.N_SPAWN / median([floor.trial_bash_true_popen_wait() for _ in range(trials)])


def _peer_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DJANGO_SETTINGS_MODULE", "TASKFLOW_DATA_DIR", "TASKFLOW_CONFIG", *_INHERITED):
        env.pop(name, None)
    return env


def _json_result(result: subprocess.CompletedProcess) -> dict | None:
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    print("  (peer failed)", result.stderr[-500:])
    return None


def _peers_venv() -> bool:
    if Path(PEERS_PYTHON).exists():
        return True
    print(f"  (peer skipped: {PEERS_PYTHON} missing; see {PEERS}/README.md)")
    return False


def djq(*args: str, timeout: float = 900) -> dict | None:
    """Run django-q2's bench driver (its own venv, fresh SQLite WAL db); its JSON result."""
    if not _peers_venv():
        return None
    env = {**_peer_env(), "DJQ_BROKER": "orm", "DJQ_WAL": "1", "DJQ_TXMODE": "IMMEDIATE"}
    result = subprocess.run(
        [PEERS_PYTHON, "bench_djq.py", *args],
        cwd=peers_dir() / "djq",
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return _json_result(result)


def celery(*, n: int = 2000, timeout: float = 900) -> dict | None:
    """Celery + Redis (bench_celery.py: one worker process, concurrency 1, Redis db 1-2) on
    `bash -c true` tasks; its JSON result (exec_rate: tasks/s from first start to last end)."""
    if not _peers_venv():
        return None
    result = subprocess.run(
        [PEERS_PYTHON, "bench_celery.py", "--task", "shell", "--n", str(n), "--idle", "3"],
        cwd=peers_dir() / "celery",
        env=_peer_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return _json_result(result)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def ratio(ours: float, theirs: float | None) -> str:
    if not theirs:
        return "n/a"
    return f"{ours / theirs:.2f}x"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(predicate, timeout: float, what: str) -> None:
    """Poll `predicate` (OSError counts as not yet) until true; exit the bench on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if predicate():
                return
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")
