"""Per-run resource samples, hourly/daily rollups per job, and the counters behind /metrics."""

from __future__ import annotations

from django.db import models


class MetricSample(models.Model):
    """CPU and memory of a run's whole process tree at one instant."""

    # sample_run_time_idx (run, timestamp) serves every read by run: no index of its own
    run = models.ForeignKey(
        "runs.Run", on_delete=models.CASCADE, related_name="samples", db_index=False
    )
    timestamp = models.DateTimeField()
    cpu_percent = models.FloatField()  # 100 = one core busy
    memory_bytes = models.BigIntegerField()  # RSS summed over the tree
    memory_percent = models.FloatField()  # of the machine's total memory

    class Meta:
        ordering = ["run", "timestamp"]
        indexes = [models.Index(fields=["run", "timestamp"], name="sample_run_time_idx")]

    def __str__(self) -> str:
        return f"sample of {self.run_id} at {self.timestamp:%Y-%m-%d %H:%M:%S}"


class PeriodType(models.TextChoices):
    HOURLY = "hourly", "Hourly"
    DAILY = "daily", "Daily"


class MetricAggregate(models.Model):
    """Runs of one job that finished within one UTC hour or day."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="aggregates")
    period_type = models.CharField(max_length=10, choices=PeriodType.choices)
    period_start = models.DateTimeField()
    run_count = models.PositiveIntegerField(default=0)
    success_count = models.PositiveIntegerField(default=0)
    failure_count = models.PositiveIntegerField(default=0)  # failure + timeout
    avg_duration_ms = models.BigIntegerField(null=True)
    max_duration_ms = models.BigIntegerField(null=True)
    avg_cpu_percent = models.FloatField(null=True)
    max_cpu_percent = models.FloatField(null=True)
    avg_memory_bytes = models.BigIntegerField(null=True)
    max_memory_bytes = models.BigIntegerField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job", "period_type", "period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "period_type", "period_start"], name="aggregate_one_per_period"
            ),
        ]
        indexes = [
            models.Index(fields=["period_type", "period_start"], name="aggregate_period_idx")
        ]

    def __str__(self) -> str:
        return f"{self.period_type} {self.period_start:%Y-%m-%d %H:%M} of {self.job_id}"


class RunCounters(models.Model):
    """Finished runs counted since the install (one row): what /metrics' counters read.

    metrics.counters folds runs in as they finish (by finished_at, a minute at a time) and
    keeps the last few minutes' figures in `slices` to catch a run that committed late; runs
    finished at or after `counted_until` are counted live at scrape time. Retention and
    rollups never lower the figures (docs/architecture.md, "Read paths and idle").
    """

    counted_until = models.DateTimeField(null=True)  # null: nothing folded yet
    totals = models.JSONField(default=dict)  # figure name -> count (metrics.counters.FIGURES)
    slices = models.JSONField(default=dict)  # minute (epoch s) -> [figures] as last counted
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"run counters until {self.counted_until}"
