"""What runs writes to the audit trail (accounts.audit): a person's run (manual trigger,
LocalFlow task), re-run and cancel. Scheduled runs, catch-ups and retries are the engine's own
work and stay in the run history only."""

from __future__ import annotations

from accounts.audit import audit_record
from runs.models import Run


def run_audit(action: str, run: Run, *, changes: dict | None = None) -> None:
    job = run.job
    audit_record(
        action=action,
        obj_type="run",
        obj_id=run.pk,
        obj_repr=job.name if job is not None else "LocalFlow task",
        job_id=run.job_id,
        subject_user=job.created_by if job is not None else run.triggered_by,
        changes=changes,
    )
