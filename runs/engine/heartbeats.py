"""Heartbeats: each cluster, drain and tick process keeps a WorkerHeartbeat row fresh, so the
reconciler and /health can tell a live process from a lost one."""

from __future__ import annotations

import os
import socket

from django.utils import timezone

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
