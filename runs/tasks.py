"""django-q2 entry points. A delivery only means "drain the Run queue" (docs/architecture.md,
record 1)."""

from __future__ import annotations

import contextlib
import signal

from runs.engine.drain import HANDOVER_SIGNAL, Drain


def run_drain(linger: float | None = None) -> int:
    """Claim and execute pending runs until idle; returns how many ran.

    Runs in a django-q2 worker, whose Sentinel left SIGTERM at its default: it would kill the
    worker. While the drain runs, its own handlers take SIGTERM and HANDOVER_SIGNAL; once it
    has returned, a signal meant for it (a cluster's stop signals its drains again and again,
    runs.management.commands.qcluster) must not kill the worker either, at whatever point it
    is handing its result back: killed holding the lock of one of django-q2's shared queues,
    it would leave the Sentinel's stop waiting for ever. So they stay caught, and do nothing
    (caught, not ignored: an ignored signal would stay ignored in the runs a later drain
    starts)."""
    try:
        return Drain(linger=linger).run()
    finally:
        with contextlib.suppress(ValueError):  # not the main thread: no signal handling
            for signum in (signal.SIGTERM, HANDOVER_SIGNAL):
                signal.signal(signum, _drain_ended)


def _drain_ended(signum, frame) -> None:
    """A stop signal for a drain that has already returned: nothing left to stop."""
