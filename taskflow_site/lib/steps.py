"""The step loop that lives beside django-q2's Sentinel in the `qcluster` process.

Small steps, each due at its own time (heartbeat every few seconds, the reconciler every few
seconds, the minute tick at each minute boundary); the loop sleeps until the next one is due and
stops cleanly when asked. Given a wake socket, a datagram on it ends the sleep and makes the
steps marked `woken` due at once. Steps return True when they did work (for tests and logs).
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections

from taskflow_site.lib.diskfull import disk_full_report, is_disk_full

logger = logging.getLogger("taskflow.cluster")


@dataclass
class Step:
    """`run(now)` every `interval` seconds, or at the instants `next_at(now)` returns."""

    name: str
    run: Callable[[float], bool]
    interval: float | None = None
    next_at: Callable[[float], float] | None = None
    woken: bool = False  # due at once when the loop is woken
    due: float = field(default=0.0)

    def schedule_after(self, now: float) -> None:
        if self.next_at is not None:
            self.due = self.next_at(now)
        else:
            self.due = now + (self.interval or 1.0)


class ClusterLoop:
    def __init__(self, steps: list[Step], stop_event: threading.Event | None = None, wake=None):
        self.steps = steps
        self.stop_event = stop_event or threading.Event()
        # fileno() for select, drain() to read what woke us; whoever sets stop_event nudges it
        self.wake = wake

    def run_once(self, now: float | None = None) -> list[str]:
        """Run every step that is due; returns the names of those that did work."""
        now = time.time() if now is None else now
        worked = []
        for step in self.steps:
            if step.due > now:
                continue
            close_old_connections()
            try:
                if step.run(now):
                    worked.append(step.name)
            except Exception as exc:  # one failing step must not stop the others
                if is_disk_full(exc):  # every step fails alike: one line per interval
                    disk_full_report(f"cluster step {step.name}")
                else:
                    logger.exception("cluster step %s failed", step.name)
            step.schedule_after(time.time())
        return worked

    def run_forever(self) -> None:
        for step in self.steps:
            step.due = 0.0  # everything runs once at start-up (reconciler first)
        while not self.stop_event.is_set():
            self.run_once()
            next_due = min(step.due for step in self.steps)
            self.sleep(max(0.0, next_due - time.time()))

    def sleep(self, seconds: float) -> None:
        if self.wake is None:
            self.stop_event.wait(seconds)
        elif select.select([self.wake], [], [], seconds)[0]:
            self.wake.drain()
            for step in self.steps:
                if step.woken:
                    step.due = 0.0
