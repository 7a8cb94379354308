"""The cluster loop's metrics steps: the run counters behind /metrics every half minute, rollups
after each hour, retention after midnight UTC, and the audit trail's own retention
(accounts.audit) hourly."""

from __future__ import annotations

import logging

from accounts.audit import audit_prune
from metrics.counters import FOLD_SECONDS, RECHECK_SECONDS, counters_fold
from metrics.retention import retention_prune
from metrics.rollups import next_hour_boundary, rollup_recent
from taskflow_site.lib.steps import Step

logger = logging.getLogger("taskflow.metrics")

RETENTION_AFTER_MIDNIGHT = 30  # seconds: after the midnight rollup of the previous day
RETENTION_SLICE_SECONDS = 0.25  # work per turn, so heartbeat, reconciler and tick stay on time
RETENTION_GAP_SECONDS = 0.25  # between turns while a large cleanup is under way
AUDIT_RETENTION_SECONDS = 3600.0  # the audit retention is in days: hourly is prompt enough


def next_midnight(now: float) -> float:
    return (now // 86400 + 1) * 86400 + RETENTION_AFTER_MIDNIGHT


class RetentionJob:
    """Runs at start-up (finishing a pass a kill -9 interrupted) and daily after midnight UTC,
    in slices of RETENTION_SLICE_SECONDS until nothing past retention is left."""

    def __init__(self):
        self.more = False

    def run(self, now: float) -> bool:
        result = retention_prune(time_budget=RETENTION_SLICE_SECONDS)
        self.more = not result.done
        if result.runs:
            logger.info(
                "retention: deleted %s runs, %s log lines, %s samples%s",
                result.runs,
                result.log_lines,
                result.samples,
                "" if result.done else " (continuing)",
            )
        return bool(result.runs)

    def next_at(self, now: float) -> float:
        return now + RETENTION_GAP_SECONDS if self.more else next_midnight(now)


def _rollups(now: float) -> bool:
    return rollup_recent() > 0


def _audit_retention(now: float) -> bool:
    removed = audit_prune()
    if removed:
        logger.info("audit retention: deleted %s entries", removed)
    return removed > 0


def metrics_steps(sender=None, **kwargs) -> list[Step]:
    retention = RetentionJob()
    return [
        # before retention: at start-up the counters take in what retention may delete
        Step("counters", lambda now: counters_fold(), interval=FOLD_SECONDS),
        Step("counters-recheck", lambda now: counters_fold(recheck=True), interval=RECHECK_SECONDS),
        Step("rollups", _rollups, next_at=next_hour_boundary),
        Step("retention", retention.run, next_at=retention.next_at),
        Step("audit-retention", _audit_retention, interval=AUDIT_RETENTION_SECONDS),
    ]
