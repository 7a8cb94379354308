"""Run a job or task through the real executor in this process (real bash, no cluster)."""

from __future__ import annotations

from django.utils import timezone

from runs.engine.claim import run_claim
from runs.engine.drain import Drain
from runs.engine.process import marker_processes
from runs.logformat import encode_block
from runs.models import LogChunk, Run, RunStatus
from runs.services import run_enqueue, run_enqueue_task, run_log_lines
from runs.spec import RunSpec


def execute(run: Run) -> Run:
    claimed = run_claim(worker="test:1", run_id=run.pk)
    assert claimed is not None, "the run was not pending"
    Drain(linger=0, budget=0).execute(claimed)
    claimed.refresh_from_db()
    return claimed


def run_script(script: str, **spec) -> Run:
    run, _ = run_enqueue_task(spec=RunSpec(kind="shell", script=script, **spec))
    return execute(run)


def run_job(job) -> Run:
    run, _ = run_enqueue(job=job, trigger_type="manual")
    assert run.status == RunStatus.PENDING
    return execute(run)


def lines(run: Run, stream: str | None = None) -> list[str]:
    return [
        line.content
        for line in run_log_lines(run=run, limit=10**7)
        if stream is None or line.stream == stream
    ]


def leftovers(run: Run) -> list:
    return marker_processes(str(run.pk))


def engine_settings(**overrides):
    """override_settings for a few TASKFLOW keys (the rest unchanged)."""
    from django.conf import settings
    from django.test import override_settings

    return override_settings(TASKFLOW={**settings.TASKFLOW, **overrides})


def store_chunks(run: Run, sizes: list[int]) -> int:
    """Log chunks of `sizes` lines each ("line 1", "line 2", ...) stored for `run`; returns
    the number of its last line."""
    now = timezone.now()
    rows, number = [], 1
    for size in sizes:
        texts = [f"line {n}" for n in range(number, number + size)]
        rows.append(
            LogChunk(
                run=run,
                first_line=number,
                last_line=number + size - 1,
                created_at=now,
                data=encode_block("stdout", 0, texts),
            )
        )
        number += size
    LogChunk.objects.bulk_create(rows)
    return number - 1
