"""django-q2 entry points. A delivery only means "drain the Run queue" (docs/architecture.md,
record 1)."""

from __future__ import annotations

from runs.engine.drain import Drain


def run_drain(linger: float | None = None) -> int:
    """Claim and execute pending runs until idle; returns how many ran."""

    return Drain(linger=linger).run()
