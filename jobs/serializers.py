"""Job and schedule serializers: input (what a client may write) separate from output.

Input serializers shape (types, names); jobs.services judges the values. Output keys follow
the naming rule of docs/api.md: writable columns snake_case (`timeout_seconds`),
server-produced values camelCase (`nextRun`, `createdBy`).
"""

from __future__ import annotations

import json

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.followups import job_followups
from jobs.models import CatchupPolicy, FollowupOn, Job, JobKind, NotifyOn, OverlapPolicy
from jobs.params import PARAM_TYPES
from jobs.services import job_errors
from taskflow_site.lib.api import Input

SECRET_MASK = "***"


class ScheduleSerializer(Input):
    """The grid (lists; null or empty = any; all ANDed) or a 5-field cron_expr."""

    years = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, required=False, max_length=400
    )
    months = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, required=False, max_length=12
    )
    days = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, required=False, max_length=31
    )
    weekdays = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, required=False, max_length=7
    )
    hours = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, required=False, max_length=24
    )
    minutes = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, required=False, max_length=60
    )
    cron_expr = serializers.CharField(max_length=200, required=False, allow_blank=True)


class ParamInput(Input):
    """One run parameter a job declares (jobs.params judges it)."""

    name = serializers.CharField(help_text="An upper-case identifier: A-Z, 0-9, _.")
    type = serializers.ChoiceField(choices=PARAM_TYPES, required=False, help_text="string")
    default = serializers.JSONField(
        required=False, allow_null=True, help_text="Of the parameter's type; none for a secret."
    )
    required = serializers.BooleanField(required=False)
    choices = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="A choice parameter's values."
    )
    secret = serializers.BooleanField(
        required=False, help_text="A string whose values are sealed, masked in logs and the API."
    )
    help = serializers.CharField(allow_blank=True, required=False)


class ParamOutput(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=PARAM_TYPES)
    default = serializers.JSONField(allow_null=True)
    required = serializers.BooleanField()
    choices = serializers.ListField(child=serializers.CharField())
    secret = serializers.BooleanField()
    help = serializers.CharField()


class FollowupInput(Input):
    """A chain link: when a run of this job ends as `on` says, a run of `job` is queued."""

    job = serializers.UUIDField(help_text="The follow-up job (one its owner may run).")
    on = serializers.ChoiceField(choices=FollowupOn.choices, required=False)
    params = serializers.DictField(
        required=False, help_text="Fixed values for the follow-up's parameters (not secrets)."
    )


class FollowupOutput(serializers.Serializer):
    job = serializers.UUIDField()
    jobName = serializers.CharField()
    on = serializers.ChoiceField(choices=FollowupOn.choices)
    params = serializers.DictField()


class JobInput(Input):
    """POST/PUT/PATCH /api/jobs: the shape of a job (types and names) only; the values are
    judged by jobs.services (job_errors), whose messages the API returns. Nothing here has a
    default, so an update never resets a field the client did not send; job_create applies the
    model defaults."""

    name = serializers.CharField(allow_blank=True)
    description = serializers.CharField(allow_blank=True, required=False)
    kind = serializers.CharField(allow_blank=True, required=False)
    script = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)
    shell = serializers.CharField(allow_blank=True, required=False)
    command = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False
    )
    http_method = serializers.CharField(allow_blank=True, required=False)
    http_url = serializers.CharField(allow_blank=True, required=False)
    http_headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False
    )
    http_body = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)
    working_dir = serializers.CharField(allow_blank=True, required=False)
    run_as = serializers.CharField(
        allow_blank=True,
        required=False,
        help_text="An OS user from the server's run-as list (admins only); blank = the job user.",
    )
    env_vars = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False
    )
    secret_env_vars = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text=f"Values are never returned ({SECRET_MASK!r}); send {SECRET_MASK!r} to keep one.",
    )
    timeout_seconds = serializers.IntegerField(required=False)
    max_memory_mb = serializers.IntegerField(
        allow_null=True, required=False, help_text="Admins only; null = no limit."
    )
    max_cpu_percent = serializers.IntegerField(
        allow_null=True, required=False, help_text="Admins only; 100 = one core; null = none."
    )
    max_cpu_sustain_seconds = serializers.IntegerField(
        allow_null=True, required=False, help_text="Admins only; over max_cpu_percent this long."
    )
    max_processes = serializers.IntegerField(
        allow_null=True, required=False, help_text="Admins only; null = no limit."
    )
    retry_count = serializers.IntegerField(required=False)
    retry_delay_seconds = serializers.IntegerField(required=False)
    retry_backoff = serializers.BooleanField(required=False)
    retry_backoff_max_seconds = serializers.IntegerField(required=False)
    retry_exit_codes = serializers.ListField(child=serializers.IntegerField(), required=False)
    priority = serializers.IntegerField(required=False)
    overlap_policy = serializers.CharField(allow_blank=True, required=False)
    max_queued = serializers.IntegerField(allow_null=True, required=False)
    catchup_policy = serializers.CharField(allow_blank=True, required=False)
    catchup_window_seconds = serializers.IntegerField(required=False)
    enabled = serializers.BooleanField(required=False)
    timezone = serializers.CharField(allow_blank=True, required=False)
    notify_emails = serializers.CharField(allow_blank=True, required=False)
    notify_on = serializers.CharField(allow_blank=True, required=False)
    notify_on_change_only = serializers.BooleanField(required=False)
    notify_daily_cap = serializers.IntegerField(required=False)
    webhook_urls = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False
    )
    schedule = ScheduleSerializer(allow_null=True, required=False)
    params = ParamInput(
        many=True, required=False, help_text="Run parameters (TASKFLOW_PARAM_<NAME>)."
    )
    followups = FollowupInput(many=True, required=False, help_text="Replaces the job's links.")
    created_by = serializers.CharField(
        allow_blank=True, required=False, help_text="Owner (username or id). Admins only."
    )


class JobOutput(serializers.Serializer):
    # docs/api.md's example keys first, in its order
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    enabled = serializers.BooleanField()
    timeout_seconds = serializers.IntegerField()
    retry_count = serializers.IntegerField()
    nextRun = serializers.DateTimeField(source="next_run_at", allow_null=True)
    lastRun = serializers.DateTimeField(source="last_run_at", allow_null=True)
    createdBy = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    createdAt = serializers.DateTimeField(source="created_at")
    # the rest of the job
    createdById = serializers.IntegerField(source="created_by_id", allow_null=True)
    updatedAt = serializers.DateTimeField(source="updated_at")
    kind = serializers.ChoiceField(choices=JobKind.choices)
    script = serializers.CharField()
    shell = serializers.CharField()
    command = serializers.ListField(child=serializers.CharField())
    http_method = serializers.CharField()
    http_url = serializers.CharField()
    http_headers = serializers.DictField(child=serializers.CharField())
    http_body = serializers.CharField()
    working_dir = serializers.CharField()
    run_as = serializers.CharField()
    max_memory_mb = serializers.IntegerField(allow_null=True)
    max_cpu_percent = serializers.IntegerField(allow_null=True)
    max_cpu_sustain_seconds = serializers.IntegerField(allow_null=True)
    max_processes = serializers.IntegerField(allow_null=True)
    env_vars = serializers.DictField(child=serializers.CharField())
    secret_env_vars = serializers.SerializerMethodField()
    retry_delay_seconds = serializers.IntegerField()
    retry_backoff = serializers.BooleanField()
    retry_backoff_max_seconds = serializers.IntegerField()
    retry_exit_codes = serializers.ListField(child=serializers.IntegerField())
    priority = serializers.IntegerField()
    overlap_policy = serializers.ChoiceField(choices=OverlapPolicy.choices)
    max_queued = serializers.IntegerField(allow_null=True)
    catchup_policy = serializers.ChoiceField(choices=CatchupPolicy.choices)
    catchup_window_seconds = serializers.IntegerField()
    timezone = serializers.CharField()
    notify_emails = serializers.CharField()
    notify_on = serializers.ChoiceField(choices=NotifyOn.choices)
    notify_on_change_only = serializers.BooleanField()
    notify_daily_cap = serializers.IntegerField()
    webhook_urls = serializers.ListField(child=serializers.CharField())
    schedule = serializers.SerializerMethodField()
    params = ParamOutput(many=True)
    followups = serializers.SerializerMethodField()

    def get_secret_env_vars(self, job) -> dict[str, str]:
        return dict.fromkeys(job.secret_env_vars or {}, SECRET_MASK)

    @extend_schema_field(ScheduleSerializer(allow_null=True))
    def get_schedule(self, job):
        # a missing one-to-one raises RelatedObjectDoesNotExist, an AttributeError
        schedule = getattr(job, "schedule", None)
        return schedule.as_dict() if schedule is not None else None

    @extend_schema_field(FollowupOutput(many=True))
    def get_followups(self, job):
        return job_followups(job)


JobInput.echo_of = JobOutput  # a PUT of what GET returned: its server-produced keys ignored


class JobListQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)
    offset = serializers.IntegerField(min_value=0, max_value=10**9, default=0)
    enabled = serializers.BooleanField(required=False, allow_null=True, default=None)
    kind = serializers.ChoiceField(choices=JobKind.choices, required=False)
    search = serializers.CharField(max_length=200, required=False)
    created_by = serializers.CharField(
        max_length=150, required=False, help_text="Owner username (admins)."
    )


class JobListOutput(serializers.Serializer):
    jobs = JobOutput(many=True)
    total = serializers.IntegerField()


class PreviewQuery(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=100, default=5)


class PreviewInput(Input):
    schedule = ScheduleSerializer()
    timezone = serializers.CharField(max_length=64, default="UTC")
    count = serializers.IntegerField(min_value=1, max_value=100, default=5)


class PreviewOutput(serializers.Serializer):
    timezone = serializers.CharField()
    nextRuns = serializers.ListField(child=serializers.DateTimeField())


class TimezoneOutput(serializers.Serializer):
    name = serializers.CharField()
    offset = serializers.IntegerField()
    iana = serializers.CharField()


class TimezoneListOutput(serializers.Serializer):
    timezones = serializers.ListField(child=serializers.CharField())
    total = serializers.IntegerField()


class ScheduleTaskInput(Input):
    """LocalFlow's POST/PUT /api/schedules (shape only; jobs.services judges the values)."""

    name = serializers.CharField(allow_blank=True)
    cron_expr = serializers.CharField(max_length=200)
    task_type = serializers.ChoiceField(choices=["shell", "http"])
    payload = serializers.DictField()
    enabled = serializers.BooleanField(required=False)
    timezone = serializers.CharField(allow_blank=True, required=False)
    priority = serializers.IntegerField(required=False)


class ScheduleTaskOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    cron_expr = serializers.CharField()
    task_type = serializers.CharField()
    payload = serializers.DictField()
    enabled = serializers.BooleanField()
    timezone = serializers.CharField()
    priority = serializers.IntegerField()
    nextRun = serializers.DateTimeField(allow_null=True)
    lastRun = serializers.DateTimeField(allow_null=True)
    createdAt = serializers.DateTimeField()


ScheduleTaskInput.echo_of = ScheduleTaskOutput


class ScheduleTaskListOutput(serializers.Serializer):
    schedules = ScheduleTaskOutput(many=True)
    total = serializers.IntegerField()


# ---- LocalFlow task payloads (POST /api/tasks and /api/schedules) ----
# A payload is shaped here, turned into Job fields (task_job_fields) and judged by the job
# rules (jobs.services.job_errors); their messages come back under "payload", in its names.

TASK_FIELDS = {
    "command": "command",
    "working_dir": "working_dir",
    "timeout_seconds": "timeout",
    "http_url": "url",
    "http_method": "method",
    "http_headers": "headers",
    "http_body": "body",
}


class ShellPayload(Input):
    """LocalFlow's shell handler: a command and its arguments, run WITHOUT a shell."""

    command = serializers.CharField(allow_blank=True, trim_whitespace=False)
    args = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        default=list,
    )
    timeout = serializers.IntegerField(required=False)
    working_dir = serializers.CharField(allow_blank=True, required=False)


class HttpPayload(Input):
    """LocalFlow's http handler."""

    url = serializers.CharField(allow_blank=True)
    method = serializers.CharField(default="GET")
    headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, default=dict
    )
    body = serializers.JSONField(required=False, default="")
    timeout = serializers.IntegerField(required=False, default=30)

    def validate_body(self, value):
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value)


def task_payload(task_type: str, payload) -> dict:
    """A LocalFlow payload shaped for its type; shape errors are nested under "payload"."""
    serializer_class = ShellPayload if task_type == "shell" else HttpPayload
    serializer = serializer_class(data=payload)
    if not serializer.is_valid():
        raise serializers.ValidationError({"payload": serializer.errors})
    return dict(serializer.validated_data)


def task_job_fields(task_type: str, payload: dict) -> dict:
    """A shaped LocalFlow payload as Job fields (shell -> kind "command", argv, no shell)."""
    if task_type == "shell":
        fields = {"kind": JobKind.COMMAND, "command": [payload["command"], *payload["args"]]}
        if "working_dir" in payload:
            fields["working_dir"] = payload["working_dir"]
    else:
        fields = {
            "kind": JobKind.HTTP,
            "http_url": payload["url"],
            "http_method": payload["method"],
            "http_headers": payload["headers"],
            "http_body": payload["body"],
        }
    if payload.get("timeout") is not None:
        fields["timeout_seconds"] = payload["timeout"]
    return fields


def task_details(details: dict) -> dict:
    """Error details keyed by Job field -> LocalFlow's: payload fields under "payload"."""
    mapped: dict = {}
    payload: dict = {}
    for key, messages in details.items():
        if key in TASK_FIELDS:
            payload[TASK_FIELDS[key]] = messages
        else:
            mapped[key] = messages
    if payload:
        mapped["payload"] = payload
    return mapped


def task_job(task_type: str, payload) -> Job:
    """An ad-hoc LocalFlow task as the unsaved Job it would be, judged by the job rules (its
    schedule, name and owner aside); raises the API's ValidationError."""
    job = Job(**task_job_fields(task_type, task_payload(task_type, payload)))
    errors = {key: value for key, value in job_errors(job).items() if key in TASK_FIELDS}
    if errors:
        raise serializers.ValidationError(task_details(errors))
    return job


def job_task_view(job) -> tuple[str, dict]:
    """A job as LocalFlow's (task_type, payload)."""
    if job.kind == JobKind.COMMAND:
        argv = list(job.command or [])
        return "shell", {
            "command": argv[0] if argv else "",
            "args": argv[1:],
            "timeout": job.timeout_seconds,
            "working_dir": job.working_dir,
        }
    if job.kind == JobKind.HTTP:
        return "http", {
            "url": job.http_url,
            "method": job.http_method,
            "headers": job.http_headers,
            "body": job.http_body,
            "timeout": job.timeout_seconds,
        }
    return "script", {"script": job.script, "shell": job.shell, "timeout": job.timeout_seconds}
