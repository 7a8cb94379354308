"""What jobs writes to the audit trail (accounts.audit): one entry per create, update (with the
field-level diff), enable, disable, owner change, delete and signing-secret rotation, and which
entries a user may read (those about the jobs they own)."""

from __future__ import annotations

from django.db.models import Q

from accounts.audit import SECRET_CHANGED, audit_changes, audit_record, audit_snapshot
from accounts.models import AuditAction
from jobs.models import Job

# Values never stored in a diff, only "changed": secret variables, headers (Authorization...),
# webhook URLs (Slack-style URLs are credentials) and the signing secret.
SECRET_FIELDS = frozenset({"secret_env_vars", "http_headers", "webhook_urls", "webhook_secret"})


def job_audit(action: str, job: Job, *, changes: dict | None = None) -> None:
    audit_record(
        action=action,
        obj_type="job",
        obj_id=job.pk,
        obj_repr=job.name,
        job_id=job.pk,
        subject_user=job.created_by,
        changes=changes,
    )


def job_audit_update(
    job: Job, *, before: dict, fields, schedule_before=None, schedule_after=None, extra=None
) -> None:
    """The diff of `fields` against `before` (and of the schedule, plus `extra` changes such
    as the follow-ups'); an edit that only flips `enabled` is recorded as enable/disable, an
    edit that changes nothing not at all."""
    changes = audit_changes(before, audit_snapshot(job, fields), secret=SECRET_FIELDS)
    changes.update(extra or {})
    if schedule_before != schedule_after:
        changes["schedule"] = {"from": schedule_before, "to": schedule_after}
    if not changes:
        return
    action = AuditAction.UPDATE
    if set(changes) == {"enabled"}:
        action = AuditAction.ENABLE if job.enabled else AuditAction.DISABLE
    job_audit(action, job, changes=changes)


def job_audit_secret_changed(job: Job) -> None:
    job_audit(AuditAction.UPDATE, job, changes={"webhook_secret": SECRET_CHANGED})


def audit_scope_for_jobs(sender=None, *, user, **kwargs) -> Q:
    """accounts.seams.audit_scope_wanted: a user reads the entries about the jobs they own."""
    return Q(job_id__in=Job.objects.filter(created_by=user).values("id"))
