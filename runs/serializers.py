"""Run, log and LocalFlow task serializers (input and output kept apart)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.params import params_masked
from jobs.services import RANGES
from runs.models import RunStatus, TriggerType
from taskflow_site.lib.api import Input
from taskflow_site.lib.formatting import iso


class RunListQuery(serializers.Serializer):
    job = serializers.UUIDField(required=False)
    status = serializers.CharField(
        max_length=200, required=False, help_text="One status or several, comma-separated."
    )
    trigger_type = serializers.ChoiceField(choices=TriggerType.choices, required=False)
    # `from` is a Python keyword: a class body's namespace is a plain dict, so set it there
    locals()["from"] = serializers.DateTimeField(required=False, help_text="Created at or after.")
    to = serializers.DateTimeField(required=False, help_text="Created before.")
    limit = serializers.IntegerField(min_value=1, max_value=500, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=10**9, default=0)

    def validate_status(self, value):
        statuses = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [part for part in statuses if part not in RunStatus.values]
        if unknown or not statuses:
            raise serializers.ValidationError(
                f"Unknown status; use one of {', '.join(RunStatus.values)}."
            )
        return statuses

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"to": ["Must not be before `from`."]})
        return attrs


class RunOutput(serializers.Serializer):
    id = serializers.UUIDField()
    jobId = serializers.UUIDField(source="job_id", allow_null=True)
    jobName = serializers.CharField(source="job.name", allow_null=True, default=None)
    status = serializers.ChoiceField(choices=RunStatus.choices)
    triggerType = serializers.ChoiceField(source="trigger_type", choices=TriggerType.choices)
    triggeredBy = serializers.CharField(
        source="triggered_by.username", allow_null=True, default=None
    )
    kind = serializers.SerializerMethodField()
    attempt = serializers.IntegerField()
    parentId = serializers.UUIDField(source="parent_id", allow_null=True)
    priority = serializers.IntegerField()
    exitCode = serializers.IntegerField(source="exit_code", allow_null=True)
    errorMessage = serializers.CharField(source="error_message")
    scheduledFor = serializers.DateTimeField(source="scheduled_for", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    duration = serializers.IntegerField(
        source="duration_ms", allow_null=True, help_text="Milliseconds."
    )
    cancelRequestedAt = serializers.DateTimeField(source="cancel_requested_at", allow_null=True)
    logLines = serializers.IntegerField(source="log_lines")
    logBytes = serializers.IntegerField(source="log_bytes")
    logDroppedBytes = serializers.IntegerField(source="log_dropped_bytes")
    cpuPercentAvg = serializers.FloatField(source="cpu_percent_avg", allow_null=True)
    cpuPercentMax = serializers.FloatField(source="cpu_percent_max", allow_null=True)
    memoryBytesAvg = serializers.IntegerField(source="memory_bytes_avg", allow_null=True)
    memoryBytesMax = serializers.IntegerField(source="memory_bytes_max", allow_null=True)
    params = serializers.DictField(help_text="The run's parameter values; secret ones masked.")
    chainedFrom = serializers.UUIDField(
        source="chained_from_id", allow_null=True, help_text="The run whose end queued this one."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_kind(self, run):
        return (run.spec or {}).get("kind")

    def to_representation(self, run):
        # the fields above are the contract (and the schema); this writes the same dict
        # directly because lists of runs are the API's hottest read and DRF's per-field
        # machinery costs ~0.3 ms a row
        job = run.job if run.job_id is not None else None
        who = run.triggered_by if run.triggered_by_id is not None else None
        return {
            "id": str(run.id),
            "jobId": str(run.job_id) if run.job_id is not None else None,
            "jobName": job.name if job is not None else None,
            "status": run.status,
            "triggerType": run.trigger_type,
            "triggeredBy": who.username if who is not None else None,
            "kind": (run.spec or {}).get("kind"),
            "attempt": run.attempt,
            "parentId": str(run.parent_id) if run.parent_id is not None else None,
            "priority": run.priority,
            "exitCode": run.exit_code,
            "errorMessage": run.error_message,
            "scheduledFor": iso(run.scheduled_for),
            "createdAt": iso(run.created_at),
            "startedAt": iso(run.started_at),
            "finishedAt": iso(run.finished_at),
            "duration": run.duration_ms,
            "cancelRequestedAt": iso(run.cancel_requested_at),
            "logLines": run.log_lines,
            "logBytes": run.log_bytes,
            "logDroppedBytes": run.log_dropped_bytes,
            "cpuPercentAvg": run.cpu_percent_avg,
            "cpuPercentMax": run.cpu_percent_max,
            "memoryBytesAvg": run.memory_bytes_avg,
            "memoryBytesMax": run.memory_bytes_max,
            "params": params_masked(run.params),
            "chainedFrom": str(run.chained_from_id) if run.chained_from_id is not None else None,
        }


class ChainedRunOutput(serializers.Serializer):
    id = serializers.UUIDField()
    jobId = serializers.UUIDField(source="job_id", allow_null=True)
    jobName = serializers.CharField(source="job.name", allow_null=True, default=None)
    status = serializers.ChoiceField(choices=RunStatus.choices)
    triggerType = serializers.ChoiceField(source="trigger_type", choices=TriggerType.choices)


class RunDetailOutput(RunOutput):
    """One run: RunOutput and the follow-up runs its end queued."""

    chainedRuns = ChainedRunOutput(many=True)

    def to_representation(self, run):
        followers = run.chained_runs.select_related("job").order_by("created_at", "pk")
        return {
            **super().to_representation(run),
            "chainedRuns": [ChainedRunOutput(follower).data for follower in followers],
        }


class JobRunInput(Input):
    """POST /api/jobs/<id>/run: the run's parameter values (defaults fill the rest)."""

    params = serializers.DictField(
        required=False, help_text="NAME -> value, as the job declares them (jobs' `params`)."
    )


class RunListOutput(serializers.Serializer):
    runs = RunOutput(many=True)
    total = serializers.IntegerField(help_text="Exact up to 10,000 (see totalExact).")
    totalExact = serializers.BooleanField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class LogQuery(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, max_value=2**31, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=10_000, default=1000)


class LogLineOutput(serializers.Serializer):
    """A runs.wire.log_line: its keys and values, in the order this endpoint always listed them."""

    lineNumber = serializers.IntegerField()
    stream = serializers.CharField()
    timestamp = serializers.DateTimeField()
    content = serializers.CharField()


class LogPageOutput(serializers.Serializer):
    runId = serializers.UUIDField()
    lines = LogLineOutput(many=True)
    nextAfter = serializers.IntegerField(help_text="Pass as ?after= for the next page.")
    hasMore = serializers.BooleanField()
    runStatus = serializers.CharField()


# ---- LocalFlow tasks ----


RETRIES_MAX = RANGES["retry_count"][1]
DELAY_MAX = RANGES["retry_delay_seconds"][1]


class TaskInput(Input):
    """LocalFlow's task. Retries mean what a job's do (runs.spec.RetryPolicy): max_attempts
    counts the first attempt (a job's retry_count + 1), a failed attempt is tried again after
    retry_delay_seconds, doubled per attempt with `backoff` (capped at an hour); a timeout or
    a cancel is never retried."""

    type = serializers.ChoiceField(choices=["shell", "http"])
    payload = serializers.DictField()
    priority = serializers.IntegerField(
        min_value=RANGES["priority"][0],
        max_value=RANGES["priority"][1],
        default=0,
        help_text="Higher runs first.",
    )
    idempotency_key = serializers.CharField(max_length=150, required=False, allow_blank=True)
    max_attempts = serializers.IntegerField(
        min_value=1,
        max_value=RETRIES_MAX + 1,
        default=1,
        help_text="Attempts in all, the first included (1 = no retry).",
    )
    backoff = serializers.BooleanField(
        default=True,
        help_text="Exponential: retry_delay_seconds x 2^(attempt-1), at most an hour; "
        "false = the same delay every time.",
    )
    retry_delay_seconds = serializers.IntegerField(
        min_value=0, max_value=DELAY_MAX, default=60, help_text="Before the first retry."
    )


# LocalFlow's task states, from ours
TASK_STATUS = {
    RunStatus.PENDING: "queued",
    RunStatus.RUNNING: "running",
    RunStatus.SUCCESS: "succeeded",
    RunStatus.FAILURE: "failed",
    RunStatus.TIMEOUT: "failed",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.SKIPPED: "skipped",
}

TASK_STATUS_CHOICES = sorted(set(TASK_STATUS.values()))


class TaskOutput(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    payload = serializers.DictField()
    priority = serializers.IntegerField()
    idempotency_key = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=TASK_STATUS_CHOICES)
    runStatus = serializers.ChoiceField(choices=RunStatus.choices)
    attempts = serializers.IntegerField(help_text="Attempts made so far (the latest's status).")
    max_attempts = serializers.IntegerField()
    backoff = serializers.BooleanField()
    retry_delay_seconds = serializers.IntegerField()
    exitCode = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    startedAt = serializers.DateTimeField(allow_null=True)
    finishedAt = serializers.DateTimeField(allow_null=True)
    duration = serializers.IntegerField(allow_null=True)


class RunTriggeredOutput(serializers.Serializer):
    runId = serializers.UUIDField()
    jobId = serializers.UUIDField()
    status = serializers.CharField()
    triggeredAt = serializers.DateTimeField()
