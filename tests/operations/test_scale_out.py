"""Scale-out on several hosts (docs/scale-out.md): two "hosts" — each its own UTS namespace and
host name, data directory and `taskflow run` tree (web + cluster) — share one PostgreSQL
database and one Redis. A stream of runs goes to both; one host's cluster is killed with
SIGKILL while it holds runs. Every run executes exactly once, or is recorded "worker lost" and
retried by its policy on the other host; the minute tick fires every slot exactly once; live
logs of a run on one host reach a viewer on the other host's web server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from django.utils import timezone
from websockets.asyncio.client import connect

from tests.operations.taskflow import TaskFlow
from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/14"  # a database of its own (tests/live uses 12)
PASSWORD = "correct-horse-battery-staple"
WORKERS = 2
STREAMERS = ("stream1", "stream2")  # manual runs are limited per user: the stream takes turns


def _reachable() -> str | None:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return "needs root and unshare (a UTS namespace per host)"
    if subprocess.run(["unshare", "--uts", "true"], capture_output=True).returncode != 0:
        return "unshare --uts is not permitted here"
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except (OSError, psycopg.Error):
        return "needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379"
    return None


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(_reachable() is not None, reason=str(_reachable())),
    # it brings its own PostgreSQL database: once, in the SQLite pass, is enough
    pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="ran in the SQLite pass"),
]


@pytest.fixture
def shared_services():
    """A PostgreSQL database and a Redis database of this test's own, dropped afterwards."""
    name = f"taskflow_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    queue = redis.Redis.from_url(REDIS_URL)
    queue.flushdb()
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        queue.flushdb()
        queue.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def host_environ(database_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"TASKFLOW_TEST_DB_NAME", "TASKFLOW_DB_PATH", "TASKFLOW_DATA_DIR"}
        and key not in {"DATABASE_URL", "TASKFLOW_DATABASE_URL", "TASKFLOW_REDIS_URL"}
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        TASKFLOW_SECRET_KEY="scale-out-shared-secret-key-" + "x" * 40,
        TASKFLOW_JWT_SECRET="scale-out-shared-jwt-secret-" + "y" * 40,
        TASKFLOW_WORKERS=str(WORKERS),
        TASKFLOW_TESTING="1",
        TASKFLOW_CONFIG=os.devnull,
        DJANGO_SETTINGS_MODULE="taskflow_site.settings",
        PYTHONUNBUFFERED="1",
        # a dead host's runs are called lost after 5 s without a heartbeat (default 15 s)
        TASKFLOW_STALE_AFTER_SECONDS="5",
        TASKFLOW_HEARTBEAT_SECONDS="1",
        TASKFLOW_RECONCILE_SECONDS="1",
    )
    return env


class Api:
    def __init__(self, host: TaskFlow, token: str):
        self.host = host
        self.client = httpx.Client(
            base_url=host.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        )

    def post(self, path: str, payload: dict | None = None) -> dict:
        response = self.client.post(path, json=payload or {})
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        return response.json()["data"]


def login(host: TaskFlow, username: str) -> str:
    """An access token; the hosts share their secrets, so it works on either (and logins are
    limited to 5 a minute per address, counted across hosts through Redis)."""
    response = httpx.post(
        f"{host.url}/api/auth/login",
        json={"username": username, "password": PASSWORD},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["access"]


class Database:
    def __init__(self, url: str):
        self.connection = psycopg.connect(url, autocommit=True)

    def rows(self, sql: str, *args) -> list[tuple]:
        return self.connection.execute(sql, args).fetchall()

    def run(self, run_id: str) -> dict:
        row = self.rows(
            "SELECT status, worker, error_message, attempt FROM runs_run WHERE id = %s", run_id
        )[0]
        return dict(zip(["status", "worker", "error", "attempt"], row, strict=True))

    def retry_of(self, run_id: str) -> str | None:
        rows = self.rows("SELECT id FROM runs_run WHERE parent_id = %s", run_id)
        return str(rows[0][0]) if rows else None

    def slots(self, job_id: str) -> list:
        return [
            (slot, count)
            for slot, count in self.rows(
                "SELECT scheduled_for, count(*) FROM runs_run WHERE job_id = %s "
                "GROUP BY scheduled_for ORDER BY scheduled_for",
                job_id,
            )
        ]


def finished(db: Database, run_id: str) -> bool:
    return db.run(run_id)["status"] not in ("pending", "running")


def host_of(db: Database, run_id: str) -> str:
    return db.run(run_id)["worker"].rpartition(":")[0]


async def watch(host: TaskFlow, run_id: str, ticket: str, go: Path) -> list[dict]:
    """Connect to `host`'s web server, then let the run start printing; collect to the end."""
    uri = f"ws://127.0.0.1:{host.port}/api/runs/{run_id}/logs/live?ticket={ticket}"
    messages: list[dict] = []
    async with connect(uri, origin=f"http://127.0.0.1:{host.port}") as ws:
        go.touch()
        async for raw in ws:
            message = json.loads(raw)
            messages.append(message)
            if message["type"] == "status" and message["status"] not in ("pending", "running"):
                break
    return messages


def test_two_hosts_share_the_work_and_survive_one_killed(
    shared_services, short_tmp, processes, tmp_path
):
    env = host_environ(shared_services)
    hosts = {}
    for name in ("host-a", "host-b"):  # one after the other: the first one migrates
        host = TaskFlow(processes, short_tmp / name, name, environ=env, hostname=name)
        hosts[name] = host.start(timeout=180)
    a, b = hosts["host-a"], hosts["host-b"]
    created = subprocess.run(
        [sys.executable, "manage.py", "createadmin", "--username", "boss", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    db = Database(shared_services)
    boss = login(a, "boss")
    admin = Api(a, boss)
    for user in STREAMERS:
        admin.post("/api/users", {"username": user, "password": PASSWORD, "role": "user"})
    executions = tmp_path / "executions"
    release, go = tmp_path / "release", tmp_path / "go"
    mark = f'echo "$TASKFLOW_RUN_ID $(hostname)" >> {executions}'

    def job(name: str, script: str, owner: str = "boss", **more) -> str:
        payload = {"name": name, "script": script, "working_dir": str(tmp_path)}
        payload.update({"created_by": owner, "overlap_policy": "allow", "timeout_seconds": 600})
        payload.update(more)
        return admin.post("/api/jobs", payload)["id"]

    wait_go = f"while [ ! -e {go} ]; do sleep 0.05; done"
    wait_release = f"while [ ! -e {release} ]; do sleep 0.1; done"
    every_minute = {"cron_expr": "* * * * *"}
    ticker = job("ticker", f"{mark}; echo tick", overlap_policy="queue", schedule=every_minute)
    chatty = job("chatty", f'{wait_go}; for i in $(seq 1 40); do echo "line $i"; done')
    long = job(
        "long", f"{mark}; {wait_release}; echo released", retry_count=1, retry_delay_seconds=1
    )
    quick = {user: job(f"quick-{user}", f"{mark}; echo quick", owner=user) for user in STREAMERS}

    # live logs: the run prints on one host, the viewer watches through the other's web server
    watched = admin.post(f"/api/jobs/{chatty}/run")["runId"]
    wait_for(lambda: db.run(watched)["status"] == "running", timeout=120, message="chatty")
    viewer = b if host_of(db, watched) == "host-a" else a
    ticket = Api(viewer, boss).post("/api/auth/ws-ticket")["ticket"]
    messages = asyncio.run(watch(viewer, watched, ticket, go))
    lines = [m["content"] for m in messages if m["type"] == "log" and m["stream"] == "stdout"]
    assert lines == [f"line {n}" for n in range(1, 41)]
    assert messages[-1]["status"] == "success"

    # a stream of runs through both hosts' APIs
    tokens = {user: login(b, user) for user in quick}
    streams = {user: [Api(host, tokens[user]) for host in (a, b)] for user in quick}
    stream: list[str] = []
    for turn in range(4):
        for user, apis in streams.items():
            stream.append(apis[turn % 2].post(f"/api/jobs/{quick[user]}/run")["runId"])
    held = [admin.post(f"/api/jobs/{long}/run")["runId"] for _ in range(2 * WORKERS)]
    wait_for(
        lambda: all(db.run(run)["status"] == "running" for run in held),
        timeout=180,
        message="every worker of both hosts to hold a long run",
    )
    on_b = [run for run in held if host_of(db, run) == "host-b"]
    assert on_b and len(on_b) < len(held)  # both hosts execute
    wait_for(lambda: db.slots(ticker), timeout=90, message="a first minute tick")

    killed_at = timezone.now()
    b.child("qcluster").kill()

    assert b.proc.wait(60) == 1
    for user, apis in streams.items():  # host B's web server is gone with it: A takes these
        stream += [apis[0].post(f"/api/jobs/{quick[user]}/run")["runId"] for _ in range(4)]
    for run in on_b:
        wait_for(lambda run=run: finished(db, run), timeout=120, message=f"{run} lost")
        assert db.run(run)["status"] == "failure"
        assert "worker lost" in db.run(run)["error"]
        assert db.retry_of(run) is not None
    release.touch()
    retries = [db.retry_of(run) for run in on_b]
    everything = [*stream, *held, *retries]
    wait_for(
        lambda: all(finished(db, run) for run in everything),
        timeout=300,
        message="every run to finish",
    )
    minute = killed_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    wait_for(
        lambda: any(slot >= minute for slot, _ in db.slots(ticker)),
        timeout=150,
        message="a minute tick after the kill",
    )

    for run in [*stream, *retries, *(run for run in held if run not in on_b)]:
        assert db.run(run)["status"] == "success", (run, db.run(run))
    for retry in retries:
        assert host_of(db, retry) == "host-a" and db.run(retry)["attempt"] == 2
    executed = Counter(line.split()[0] for line in executions.read_text().splitlines())
    assert all(count == 1 for count in executed.values()), executed.most_common(3)
    for run in [*stream, *retries]:
        assert executed[run] == 1, run
    slots = db.slots(ticker)
    assert all(count == 1 for _, count in slots), slots
    times = [slot for slot, _ in slots]
    assert times == [times[0] + timedelta(minutes=n) for n in range(len(times))]
    assert a.stop() == 0
    db.connection.close()
