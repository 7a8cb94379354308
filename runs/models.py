"""Runs are the durable queue and the record of truth; log chunks and worker heartbeats."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    TIMEOUT = "timeout", "Timeout"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"

    @classmethod
    def finished(cls) -> list[str]:
        return [cls.SUCCESS, cls.FAILURE, cls.TIMEOUT, cls.CANCELLED, cls.SKIPPED]


class TriggerType(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    CATCHUP = "catchup", "Catch-up"
    MANUAL = "manual", "Manual"
    API = "api", "API task"
    RETRY = "retry", "Retry"
    CHAIN = "chain", "Chain (follow-up)"


class RunQuerySet(models.QuerySet):
    def visible_to(self, user) -> RunQuerySet:
        """Admins see every run; users see runs of jobs they own."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_admin:
            return self
        return self.filter(job__created_by=user)

    def finished(self) -> RunQuerySet:
        return self.filter(status__in=RunStatus.finished())


class Run(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # null only for LocalFlow-style ad-hoc tasks (POST /api/tasks), which are admin-only
    # no index of its own: run_job_time_idx and run_job_status_idx begin with the job
    job = models.ForeignKey(
        "jobs.Job",
        on_delete=models.CASCADE,
        related_name="runs",
        null=True,
        blank=True,
        db_index=False,
    )
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    trigger_type = models.CharField(max_length=10, choices=TriggerType.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # what to execute, frozen at enqueue time (kind, script/argv, shell, env, timeout, http...)
    spec = models.JSONField(default=dict)
    priority = models.IntegerField(default=0)
    attempt = models.PositiveIntegerField(default=1)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="retries"
    )
    # the run whose end queued this one (a job's follow-up); parent stays for retries
    chained_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chained_runs",
        db_index=False,  # the partial index below: most runs are not chained
    )
    # the run's parameter values (jobs' `params`); secret values are sealed (secretbox)
    params = models.JSONField(default=dict, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)  # the schedule slot (UTC)
    available_at = models.DateTimeField()  # not claimed before (retry delay)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)

    worker = models.CharField(max_length=200, blank=True)  # host:pid of the executor
    pid = models.IntegerField(null=True, blank=True)  # process group leader
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    log_lines = models.PositiveIntegerField(default=0)
    log_bytes = models.BigIntegerField(default=0)
    log_dropped_bytes = models.BigIntegerField(default=0)

    # what the run's processes used (runs.engine.monitor): CPU time as the kernel counts it
    cpu_seconds = models.FloatField(null=True, blank=True)
    cpu_percent_avg = models.FloatField(null=True, blank=True)
    cpu_percent_max = models.FloatField(null=True, blank=True)
    memory_bytes_avg = models.BigIntegerField(null=True, blank=True)
    memory_bytes_max = models.BigIntegerField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "scheduled_for"], name="run_one_per_slot"),
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="run_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["job", "-created_at"], name="run_job_time_idx"),
            # a user's runs filtered by status (API list, admin filter): per job, one status,
            # newest first; without it SQLite reads every run of that status in the table
            models.Index(fields=["job", "status", "-created_at"], name="run_job_status_idx"),
            # the admin's list filtered by one status, newest first: read in order, no sort
            models.Index(fields=["status", "-created_at"], name="run_status_time_idx"),
            # the claim's order among pending runs only: a run enters it when queued and
            # leaves it when claimed (no entry to move when it starts or ends); status leads
            # so that SQLite's planner, without statistics, sees an equality to use. It holds
            # the whole ORDER BY, so the claim reads pending runs in order and stops at the
            # first that may start: no sort, whatever the planner believes of the row count
            # (PostgreSQL without fresh statistics sorted every pending run on each claim)
            models.Index(
                fields=["status", "-priority", "available_at", "created_at"],
                condition=Q(status="pending"),
                name="run_claim_idx",
            ),
            models.Index(fields=["-created_at"], name="run_created_idx"),
            models.Index(fields=["started_at"], name="run_started_idx"),
            # finished_at first for the window; status, duration and job after it so the
            # dashboard's 24 h figures are read from the index alone (no row lookups)
            # (finished runs only: a run's entry is written once, when it ends)
            models.Index(
                fields=["finished_at", "status", "duration_ms", "job"],
                condition=Q(finished_at__isnull=False),
                name="run_finished_cover_idx",
            ),
            # the claim asks "does this job already have a running run?" for every candidate
            models.Index(fields=["job"], condition=Q(status="running"), name="run_running_job_idx"),
            # enqueue asks "are runs of this job queued?" (overlap policy, queue bound)
            models.Index(fields=["job"], condition=Q(status="pending"), name="run_pending_job_idx"),
            # "what did this run start" (run page): only chained runs are in it
            models.Index(
                fields=["chained_from"],
                condition=Q(chained_from__isnull=False),
                name="run_chained_from_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in RunStatus.finished()

    @property
    def root_id(self):
        return self.parent_id or self.id


class LogStream(models.TextChoices):
    STDOUT = "stdout", "stdout"
    STDERR = "stderr", "stderr"
    SYSTEM = "system", "system"


class LogChunk(models.Model):
    """A run's log lines first_line..last_line (1-based, contiguous), stored together.

    One row per line cannot keep up with a chatty script on SQLite (docs/architecture.md,
    record 6); lines are kept in chunks and still paged by line number. `data` holds one
    record per line:
    `<stream letter o|e|s><ms since created_at>\\t<text>`, joined by "\\n" (text never holds
    a newline). runs.logformat encodes and decodes it.
    """

    # no index of its own: logchunk_run_line (run, first_line) begins with the run
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="log_chunks", db_index=False
    )
    first_line = models.PositiveIntegerField()
    last_line = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    data = models.TextField()

    class Meta:
        ordering = ["run", "first_line"]
        constraints = [
            models.UniqueConstraint(fields=["run", "first_line"], name="logchunk_run_line"),
        ]
        indexes = [models.Index(fields=["run", "last_line"], name="logchunk_run_last_idx")]

    def __str__(self) -> str:
        return f"lines {self.first_line}-{self.last_line} of {self.run_id}"


class WorkerRole(models.TextChoices):
    WORKER = "worker", "Executor"
    TICK = "tick", "Minute tick"
    CLUSTER = "cluster", "Cluster supervisor"


class WorkerHeartbeat(models.Model):
    """One row per live process role (host:pid); /health reads the freshest of each role."""

    name = models.CharField(max_length=200, primary_key=True)
    role = models.CharField(max_length=10, choices=WorkerRole.choices)
    hostname = models.CharField(max_length=200)
    pid = models.IntegerField()
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)
    busy_run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True)
    # set when a drain loop returned: the row still counts for /health until it goes stale
    # (its successor reuses it), but the dispatcher no longer counts it as a live drain
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["role", "-heartbeat_at"], name="heartbeat_role_idx")]

    def __str__(self) -> str:
        return self.name
