"""The overlap admission rule, written once (docs/architecture.md, record 4).

Two questions, one job policy (Job.overlap_policy, Job.max_queued):

- May a new run of the job be queued? `skip`: not while a run of it is pending or running.
  `queue` and `allow`: not when `max_queued` (else MAX_QUEUED_PER_JOB) runs of it are pending.
  A refused run is recorded as skipped, with the reason (runs.services).
- May a pending run start? Unless the job allows overlap, not while a run of it is running.
  A run without a job (an ad-hoc task) always may.

`may_start` states the second in Python; `MAY_START_SQL` is the same rule as the claim query's
condition (runs.engine.claim), and PostgreSQL's job lock asks `may_start`.
tests/runs/test_admission.py pins the SQL to the Python, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count

from jobs.models import OverlapPolicy
from runs.models import Run, RunStatus


def may_start(policy: str | None, *, running: bool) -> bool:
    """May a pending run start? policy None: the run has no job."""
    return policy is None or policy == OverlapPolicy.ALLOW or not running


# may_start for the candidate `r` (runs_run), with no join: the jobs that may not start another
# run now are the few with a running run that do not allow overlap, read once per query (an
# uncorrelated subquery, a hashed set). So the claim reads one table, pending runs in its
# index's order, and stops at the first that may start: the planner has no join to reorder
# nor a sort to prefer when its statistics are stale.
MAY_START_SQL = (
    "(r.job_id IS NULL OR r.job_id NOT IN (SELECT x.job_id FROM runs_run x "  # noqa: S608
    f"JOIN jobs_job j ON j.id = x.job_id WHERE x.status = '{RunStatus.RUNNING}' "
    f"AND j.overlap_policy <> '{OverlapPolicy.ALLOW}'))"
)


def queue_bound(job) -> int:
    return job.max_queued or settings.TASKFLOW["MAX_QUEUED_PER_JOB"]


def skip_reason(job, *, busy: bool, pending: int) -> str | None:
    """Why a new run of `job` is skipped instead of queued, or None. busy: a run of it is
    pending or running; pending: how many of its runs are pending."""
    if job.overlap_policy == OverlapPolicy.SKIP:
        if busy:
            return "skipped: the previous run of this job is still pending or running"
        return None
    bound = queue_bound(job)
    if pending >= bound:
        return f"skipped: queue full ({bound} runs of this job already pending)"
    return None


class Admission:
    """skip_reason for new runs of some jobs: one query per policy kind for all of them, then
    counted in memory as runs are admitted in order (a batch holding two slots of one job
    decides the second as if the first were already queued)."""

    def __init__(self, jobs):
        by_id = {job.pk: job for job in jobs}
        skip_ids = [pk for pk, job in by_id.items() if job.overlap_policy == OverlapPolicy.SKIP]
        queue_ids = [pk for pk, job in by_id.items() if job.overlap_policy != OverlapPolicy.SKIP]
        runs = Run.objects.order_by()
        self.busy: set = set()
        if skip_ids:
            # served by the small partial indexes (pending / running runs per job)
            self.busy = set(
                runs.filter(job_id__in=skip_ids, status__in=[RunStatus.PENDING, RunStatus.RUNNING])
                .values_list("job_id", flat=True)
                .distinct()
            )
        self.pending: dict = {}
        if queue_ids:
            self.pending = dict(
                runs.filter(job_id__in=queue_ids, status=RunStatus.PENDING)
                .values_list("job_id")
                .annotate(count=Count("id"))
            )

    def reason(self, job) -> str | None:
        return skip_reason(job, busy=job.pk in self.busy, pending=self.pending.get(job.pk, 0))

    def admit(self, job) -> None:
        self.busy.add(job.pk)
        self.pending[job.pk] = self.pending.get(job.pk, 0) + 1
