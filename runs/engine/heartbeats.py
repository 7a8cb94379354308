"""Heartbeats: each cluster, drain and tick process keeps a WorkerHeartbeat row fresh, so the
reconciler and /health can tell a live process from a lost one; a process executing runs also
holds its executor lock (naming the run it executes), which the local reconciler asks before
it calls a run with a stale heartbeat lost."""

from __future__ import annotations

import os
import socket

from django.conf import settings
from django.utils import timezone

from runs.engine import process
from runs.models import WorkerHeartbeat


def process_name() -> str:
    """This process as "host:pid": the worker of the runs it executes (Run.worker), and the
    tail of its heartbeat names."""
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat_beat(*, role: str, name: str | None = None, started_at=None) -> None:
    now = timezone.now()
    name = name or f"{role}@{process_name()}"
    updated = WorkerHeartbeat.objects.filter(name=name).update(heartbeat_at=now)
    if not updated:
        WorkerHeartbeat.objects.update_or_create(
            name=name,
            defaults={
                "role": role,
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "started_at": started_at or now,
                "heartbeat_at": now,
            },
        )


def heartbeat_forget(*, role: str, name: str | None = None) -> None:
    WorkerHeartbeat.objects.filter(name=name or f"{role}@{process_name()}").delete()


def executor_lock_dir() -> str:
    return os.path.join(settings.DATA_DIR, "running")


_LOCKS: dict[tuple[int, str], process.WorkerLock] = {}


def executor_lock(worker: str) -> process.WorkerLock:
    """This process's lock as `worker`: taken on first use and held for the process's life
    (see process.WorkerLock); the executor marks in it the run it executes."""
    key = (os.getpid(), os.path.join(executor_lock_dir(), process.lock_file_name(worker)))
    lock = _LOCKS.get(key)
    if lock is None:
        lock = _LOCKS[key] = process.WorkerLock(executor_lock_dir(), worker)
    lock.acquire()
    return lock


def executor_holds(worker: str, run_id) -> bool:
    """Is a live local process executing as `worker` holding `run_id` right now?"""
    return process.worker_holds(
        os.path.join(executor_lock_dir(), process.lock_file_name(worker)), run_id
    )
