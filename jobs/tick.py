"""The minute tick as cluster steps: fire due jobs right after each minute boundary, and keep a
"tick" heartbeat fresh for /health while the tick itself keeps succeeding."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime

from django.conf import settings

from runs.cluster import Step, heartbeat_beat

logger = logging.getLogger("taskflow.scheduler")

# /health reports the tick stale when its last successful pass is older than this
TICK_HEALTHY_SECONDS = 90


def next_minute(now: float) -> float:
    """The next whole minute strictly after `now` (epoch seconds)."""
    return (math.floor(now / 60) + 1) * 60.0


class Tick:
    """State shared by the tick step and its heartbeat step (one per process)."""

    def __init__(self) -> None:
        self.last_ok: float | None = None  # time.monotonic() of the last successful pass

    def run(self, now: float) -> bool:
        from jobs.services import tick_run

        # the loop's `now` was taken before earlier steps ran; the boundary has passed anyway
        instant = datetime.fromtimestamp(max(now, time.time()), UTC)
        created = tick_run(now=instant)
        self.last_ok = time.monotonic()
        heartbeat_beat(role="tick")
        if created:
            logger.info("tick %s: %d run(s) enqueued", instant.isoformat(), created)
        return created > 0

    def beat(self, now: float) -> bool:
        if self.last_ok is not None and time.monotonic() - self.last_ok < TICK_HEALTHY_SECONDS:
            heartbeat_beat(role="tick")
        return False

    def steps(self) -> list[Step]:
        beat = settings.TASKFLOW["HEARTBEAT_SECONDS"]
        return [
            Step("tick", self.run, next_at=next_minute),
            Step("tick-heartbeat", self.beat, interval=beat),
        ]


def tick_steps() -> list[Step]:
    return Tick().steps()
