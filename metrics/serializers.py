"""Output shapes of the metrics endpoints (metrics.services builds the data)."""

from __future__ import annotations

from rest_framework import serializers

from jobs.serializers import JobOutput
from runs.serializers import RunOutput


class DashboardStatsOutput(serializers.Serializer):
    activeJobs = serializers.IntegerField()
    runningNow = serializers.IntegerField()
    successRate = serializers.FloatField(min_value=0, max_value=1)
    totalFailures = serializers.IntegerField()
    averageDuration = serializers.IntegerField(help_text="Milliseconds.")
    uptime = serializers.IntegerField(help_text="Milliseconds since the cluster started.")


class MetricsRangeQuery(serializers.Serializer):
    range = serializers.ChoiceField(choices=["7d", "30d", "90d"], default="7d")


class _PeriodFigures(serializers.Serializer):
    runCount = serializers.IntegerField()
    successCount = serializers.IntegerField()
    failureCount = serializers.IntegerField()
    successRate = serializers.FloatField(allow_null=True)
    avgDuration = serializers.IntegerField(allow_null=True)
    maxDuration = serializers.IntegerField(allow_null=True)
    avgCpuPercent = serializers.FloatField(allow_null=True)
    maxCpuPercent = serializers.FloatField(allow_null=True)
    avgMemoryBytes = serializers.IntegerField(allow_null=True)
    maxMemoryBytes = serializers.IntegerField(allow_null=True)


class MetricsPointOutput(_PeriodFigures):
    periodStart = serializers.CharField()


class JobMetricsOutput(serializers.Serializer):
    jobId = serializers.UUIDField()
    rangeDays = serializers.IntegerField()
    granularity = serializers.ChoiceField(choices=["hourly", "daily"])
    summary = _PeriodFigures()
    points = MetricsPointOutput(many=True)


class JobsMetricsOutput(serializers.Serializer):
    """JobMetricsOutput over every job the caller sees (no jobId)."""

    rangeDays = serializers.IntegerField()
    granularity = serializers.ChoiceField(choices=["hourly", "daily"])
    summary = _PeriodFigures()
    points = MetricsPointOutput(many=True)


class UpcomingQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


class UpcomingOutput(serializers.Serializer):
    jobs = JobOutput(many=True, help_text="Enabled jobs by next run, soonest first.")


class SampleOutput(serializers.Serializer):
    timestamp = serializers.CharField()
    cpuPercent = serializers.FloatField()
    memoryBytes = serializers.IntegerField()
    memoryPercent = serializers.FloatField()


class RunMetricsSummaryOutput(serializers.Serializer):
    sampleCount = serializers.IntegerField()
    cpuPercentAvg = serializers.FloatField(allow_null=True)
    cpuPercentMax = serializers.FloatField(allow_null=True)
    memoryBytesAvg = serializers.IntegerField(allow_null=True)
    memoryBytesMax = serializers.IntegerField(allow_null=True)
    duration = serializers.IntegerField(allow_null=True)
    cpuSeconds = serializers.FloatField(
        allow_null=True,
        help_text="CPU time of the whole tree (kernel); null while running.",
    )


class RunMetricsOutput(serializers.Serializer):
    runId = serializers.UUIDField()
    status = serializers.CharField()
    samples = SampleOutput(many=True)
    summary = RunMetricsSummaryOutput()


# ---- activity (metrics.activity) ----


class ActivityQuery(serializers.Serializer):
    hours = serializers.IntegerField(min_value=1, max_value=72, default=24)


class ActiveRunOutput(RunOutput):
    progress = serializers.FloatField(
        allow_null=True, help_text="The last NN% a running run printed; null when none."
    )


class RunMarkOutput(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    triggerType = serializers.CharField()
    createdAt = serializers.CharField()
    startedAt = serializers.CharField(allow_null=True)
    finishedAt = serializers.CharField(allow_null=True)
    duration = serializers.IntegerField(allow_null=True, help_text="Milliseconds.")


class TimelineRowOutput(serializers.Serializer):
    jobId = serializers.UUIDField(allow_null=True, help_text="null: ad-hoc tasks.")
    jobName = serializers.CharField()
    runs = RunMarkOutput(many=True, help_text="Oldest first.")


class UpcomingSlotOutput(serializers.Serializer):
    jobId = serializers.UUIDField()
    jobName = serializers.CharField()
    timezone = serializers.CharField()
    at = serializers.CharField()


class DashboardActivityOutput(serializers.Serializer):
    """The home page's live parts: runs now, the next `hours`, the last `hours`."""

    # `from` is a Python keyword: a class body's namespace is a plain dict, so set it there
    locals()["from"] = serializers.CharField(help_text="Start of the window.")
    to = serializers.CharField(help_text="Now.")
    upcomingUntil = serializers.CharField()
    active = ActiveRunOutput(many=True, help_text="Pending and running runs, newest first.")
    upcoming = UpcomingSlotOutput(many=True, help_text="Every slot until upcomingUntil.")
    timeline = TimelineRowOutput(many=True, help_text="Runs created since `from`, per job.")
    timelineTruncated = serializers.BooleanField()
    failures = RunOutput(many=True, help_text="Failed or timed out since `from`.")


class JobSummaryOutput(serializers.Serializer):
    runCount = serializers.IntegerField()
    executedCount = serializers.IntegerField()
    successCount = serializers.IntegerField()
    failureCount = serializers.IntegerField()
    successRate = serializers.FloatField(allow_null=True)
    averageDuration = serializers.IntegerField(allow_null=True)
    p95Duration = serializers.IntegerField(allow_null=True)


class JobActivityOutput(serializers.Serializer):
    jobId = serializers.UUIDField()
    enabled = serializers.BooleanField()
    timezone = serializers.CharField()
    nextRun = serializers.CharField(allow_null=True)
    nextRuns = serializers.ListField(child=serializers.CharField(), help_text="Next 5 slots.")
    active = ActiveRunOutput(many=True)
    recent = RunMarkOutput(many=True, help_text="The last 50 runs, newest first.")
    summary = JobSummaryOutput(help_text="Figures over `recent`.")
