"""Jobs (what to run, for whom, with which policies) and their schedules."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from jobs.schedule import GRID_FIELDS


class JobKind(models.TextChoices):
    SHELL = "shell", "Shell script"
    COMMAND = "command", "Command (argv, no shell)"
    HTTP = "http", "HTTP request"


# what an HTTP job may send (the job rules check it; the engine refuses others at send time)
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class NotifyOn(models.TextChoices):
    ALWAYS = "always", "Always"
    FAILURE = "failure", "On failure"
    SUCCESS = "success", "On success"
    NEVER = "never", "Never"


class OverlapPolicy(models.TextChoices):
    QUEUE = "queue", "Queue (bounded)"
    SKIP = "skip", "Skip while running"
    ALLOW = "allow", "Allow concurrent runs"


class CatchupPolicy(models.TextChoices):
    SKIP = "skip", "Skip missed slots"
    RUN_ONCE = "run_once", "Run once to catch up"
    RUN_ALL = "run_all", "Run every missed slot (within the window)"


class JobQuerySet(models.QuerySet):
    def visible_to(self, user) -> JobQuerySet:
        """Admins see every job; users see the jobs they own. Anonymous: none."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_admin:
            return self
        return self.filter(created_by=user)

    def due(self, now) -> JobQuerySet:
        # `enabled__in` rather than `enabled=True`: Django renders the latter as a bare
        # `WHERE "enabled"`, which SQLite cannot match to job_due_idx (it scanned 100k rows)
        return self.filter(enabled__in=[True], next_run_at__lte=now)


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=JobKind.choices, default=JobKind.SHELL)
    # shell: the script text run by `shell`; command: argv (no shell); http: the request spec
    script = models.TextField(blank=True)
    shell = models.CharField(max_length=200, default="/bin/bash")
    command = models.JSONField(default=list, blank=True)
    http_method = models.CharField(max_length=10, default="GET")
    http_url = models.URLField(max_length=2000, blank=True)
    http_headers = models.JSONField(default=dict, blank=True)
    http_body = models.TextField(blank=True)

    working_dir = models.CharField(max_length=1000, default="/tmp")  # noqa: S108 (the API default)
    # an OS user from TASKFLOW_RUN_AS_USERS (admins only); blank = the configured job user
    run_as = models.CharField(max_length=64, blank=True)
    env_vars = models.JSONField(default=dict, blank=True)
    # NAME -> encrypted value (jobs.secrets); values masked in logs, never in the API
    secret_env_vars = models.JSONField(default=dict, blank=True)
    timeout_seconds = models.PositiveIntegerField(default=3600)
    # what a run's processes may use, enforced by the engine's monitor; admins set these, like
    # what runs (null = no limit)
    max_memory_mb = models.PositiveIntegerField(null=True, blank=True)  # the tree's RSS
    max_cpu_percent = models.PositiveIntegerField(null=True, blank=True)  # 100 = one core
    max_cpu_sustain_seconds = models.PositiveIntegerField(null=True, blank=True)  # null = 0
    max_processes = models.PositiveIntegerField(null=True, blank=True)
    retry_count = models.PositiveIntegerField(default=0)
    retry_delay_seconds = models.PositiveIntegerField(default=60)
    retry_backoff = models.BooleanField(default=False)  # exponential: delay * 2**(attempt-1)
    retry_backoff_max_seconds = models.PositiveIntegerField(default=3600)
    retry_exit_codes = models.JSONField(default=list, blank=True)  # empty = any non-zero
    priority = models.IntegerField(default=0)  # higher runs first
    overlap_policy = models.CharField(
        max_length=10, choices=OverlapPolicy.choices, default=OverlapPolicy.QUEUE
    )
    max_queued = models.PositiveIntegerField(null=True, blank=True)  # None = server default
    catchup_policy = models.CharField(
        max_length=10, choices=CatchupPolicy.choices, default=CatchupPolicy.RUN_ONCE
    )
    catchup_window_seconds = models.PositiveIntegerField(default=86400)

    enabled = models.BooleanField(default=True)
    timezone = models.CharField(max_length=64, default="UTC")
    next_run_at = models.DateTimeField(null=True, blank=True)  # UTC; null = never
    last_run_at = models.DateTimeField(null=True, blank=True)

    notify_emails = models.TextField(blank=True)  # comma-separated, as docs/api.md shows it
    notify_on = models.CharField(max_length=10, choices=NotifyOn.choices, default=NotifyOn.FAILURE)
    notify_on_change_only = models.BooleanField(default=False)
    notify_daily_cap = models.PositiveIntegerField(default=0)  # 0 = no cap
    webhook_urls = models.JSONField(default=list, blank=True)
    # the webhooks' signing secret, encrypted (jobs.webhook_secrets); shown only when made
    webhook_secret = models.TextField(blank=True, editable=False)
    # run parameters: a list of {"name", "type", "default", "required", "choices", "secret",
    # "help"} (jobs.services checks them; a run's values are checked against them)
    params = models.JSONField(default=list, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="jobs",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["enabled", "next_run_at"], name="job_due_idx"),
            models.Index(fields=["created_by", "name"], name="job_owner_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def notify_email_list(self) -> list[str]:
        return [part.strip() for part in self.notify_emails.split(",") if part.strip()]


class FollowupOn(models.TextChoices):
    SUCCESS = "success", "On success"
    FAILURE = "failure", "On failure (failure or timeout)"
    ALWAYS = "always", "Always"


class JobFollowup(models.Model):
    """A chain link: when a run of `job` ends (its final attempt) as `on` says, a run of
    `target` is queued with `params` (plus the parent's values)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="followup_links")
    target = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chained_from_links")
    on = models.CharField(max_length=10, choices=FollowupOn.choices, default=FollowupOn.SUCCESS)
    params = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["job", "position"]

    def __str__(self) -> str:
        return f"{self.job_id} -> {self.target_id} ({self.on})"


class Schedule(models.Model):
    """When a job fires, in the job's time zone.

    Either the grid (each field a list of allowed values, null/empty = any, all fields ANDed)
    or, when `cron_expr` is set, a 5-field cron expression (which then wins, with cron's
    day-of-month OR day-of-week rule); docs/architecture.md, record 3.
    """

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="schedule")
    years = models.JSONField(null=True, blank=True)
    months = models.JSONField(null=True, blank=True)
    days = models.JSONField(null=True, blank=True)
    weekdays = models.JSONField(null=True, blank=True)  # 0 = Sunday
    hours = models.JSONField(null=True, blank=True)
    minutes = models.JSONField(null=True, blank=True)
    cron_expr = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"schedule of {self.job_id}"

    def as_dict(self) -> dict:
        """The schedule as jobs.schedule's functions and the API take it: every grid field a
        list or None (= any), cron_expr a string ("" when the grid is used)."""
        data = {name: getattr(self, name) or None for name in GRID_FIELDS}
        data["cron_expr"] = self.cron_expr or ""
        return data
