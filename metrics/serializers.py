"""Output shapes of the metrics endpoints (metrics.services builds the data)."""

from __future__ import annotations

from rest_framework import serializers

from jobs.serializers import JobOutput


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


class RunMetricsOutput(serializers.Serializer):
    runId = serializers.UUIDField()
    status = serializers.CharField()
    samples = SampleOutput(many=True)
    summary = RunMetricsSummaryOutput()
