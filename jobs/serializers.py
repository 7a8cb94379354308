"""Job and schedule serializers: input (what a client may write) separate from output.

Output keys follow the naming rule in taskflow_site/api.py: writable columns snake_case
(`timeout_seconds`), server-produced values camelCase (`nextRun`, `createdBy`).
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.core.validators import EmailValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.models import CatchupPolicy, JobKind, NotifyOn, OverlapPolicy
from jobs.schedule import SCHEDULE_KEYS
from jobs.timezones import timezone_valid

SECRET_MASK = "***"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


class ScheduleSerializer(serializers.Serializer):
    """The seed's grid (lists; null or empty = any; all ANDed) or a 5-field cron_expr."""

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


def schedule_dict(schedule) -> dict | None:
    """A Schedule row as the API's dict (None when the job has none)."""
    if schedule is None:
        return None
    return {key: getattr(schedule, key) for key in SCHEDULE_KEYS}


def _env_dict(value: dict, field: str) -> dict:
    for key in value:
        if not ENV_NAME.match(key) or len(key) > 200:
            raise serializers.ValidationError(f"{key!r} is not a valid environment variable name.")
    return value


class JobInput(serializers.Serializer):
    """POST/PUT/PATCH /api/jobs. Nothing here has a default, so an update never resets a
    field the client did not send; job_create applies the model defaults."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, max_length=10_000)
    kind = serializers.ChoiceField(choices=JobKind.choices, required=False)
    script = serializers.CharField(
        allow_blank=True, required=False, trim_whitespace=False, max_length=1_000_000
    )
    shell = serializers.CharField(max_length=200, required=False)
    command = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=100_000),
        required=False,
        max_length=1000,
    )
    http_method = serializers.ChoiceField(choices=HTTP_METHODS, required=False)
    http_url = serializers.URLField(max_length=2000, required=False, allow_blank=True)
    http_headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=8000), required=False
    )
    http_body = serializers.CharField(
        allow_blank=True, required=False, trim_whitespace=False, max_length=1_000_000
    )
    working_dir = serializers.CharField(max_length=1000, required=False)
    env_vars = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=100_000),
        required=False,
    )
    secret_env_vars = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=100_000),
        required=False,
        help_text=f"Values are never returned ({SECRET_MASK!r}); send {SECRET_MASK!r} to keep one.",
    )
    timeout_seconds = serializers.IntegerField(min_value=1, required=False)
    retry_count = serializers.IntegerField(min_value=0, max_value=100, required=False)
    retry_delay_seconds = serializers.IntegerField(min_value=0, max_value=86400, required=False)
    retry_backoff = serializers.BooleanField(required=False)
    retry_backoff_max_seconds = serializers.IntegerField(
        min_value=0, max_value=7 * 86400, required=False
    )
    retry_exit_codes = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=255), required=False, max_length=255
    )
    priority = serializers.IntegerField(min_value=-1000, max_value=1000, required=False)
    overlap_policy = serializers.ChoiceField(choices=OverlapPolicy.choices, required=False)
    max_queued = serializers.IntegerField(
        min_value=1, max_value=10_000, allow_null=True, required=False
    )
    catchup_policy = serializers.ChoiceField(choices=CatchupPolicy.choices, required=False)
    catchup_window_seconds = serializers.IntegerField(
        min_value=0, max_value=366 * 86400, required=False
    )
    enabled = serializers.BooleanField(required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    notify_emails = serializers.CharField(allow_blank=True, required=False, max_length=5000)
    notify_on = serializers.ChoiceField(choices=NotifyOn.choices, required=False)
    notify_on_change_only = serializers.BooleanField(required=False)
    notify_daily_cap = serializers.IntegerField(min_value=0, max_value=10_000, required=False)
    webhook_urls = serializers.ListField(
        child=serializers.URLField(max_length=2000), required=False, max_length=20
    )
    schedule = ScheduleSerializer(allow_null=True, required=False)
    created_by = serializers.CharField(
        max_length=150,
        required=False,
        help_text="Owner (username or id). Admins only.",
    )

    def validate_timeout_seconds(self, value):
        limit = settings.TASKFLOW["MAX_JOB_TIMEOUT"]
        if value > limit:
            raise serializers.ValidationError(f"At most {limit} seconds (MAX_JOB_TIMEOUT).")
        return value

    def validate_working_dir(self, value):
        if not value.startswith("/") or "\x00" in value:
            raise serializers.ValidationError("Must be an absolute path.")
        return value

    def validate_shell(self, value):
        if not value.startswith("/") or "\x00" in value:
            raise serializers.ValidationError("Must be an absolute path to a shell.")
        return value

    def validate_timezone(self, value):
        if not timezone_valid(value):
            raise serializers.ValidationError(f"Unknown time zone {value!r}.")
        return value

    def validate_env_vars(self, value):
        return _env_dict(value, "env_vars")

    def validate_secret_env_vars(self, value):
        return _env_dict(value, "secret_env_vars")

    def validate_http_headers(self, value):
        for key, header in value.items():
            if not HEADER_NAME.match(key) or "\r" in header or "\n" in header:
                raise serializers.ValidationError(f"Invalid header {key!r}.")
        return value

    def validate_command(self, value):
        if any("\x00" in part for part in value):
            raise serializers.ValidationError("Arguments cannot contain NUL.")
        return value

    def validate_notify_emails(self, value):
        check = EmailValidator()
        parts = [part.strip() for part in value.split(",") if part.strip()]
        for part in parts:
            try:
                check(part)
            except Exception:  # django ValidationError -> one message for the field
                raise serializers.ValidationError(f"{part!r} is not an e-mail address.") from None
        return ", ".join(parts)

    def validate(self, attrs):
        # what the job would look like after this write, to check the kind's required fields
        job = self.context.get("job")

        def final(name, default=None):
            if name in attrs:
                return attrs[name]
            return getattr(job, name) if job is not None else default

        kind = final("kind", JobKind.SHELL)
        errors = {}
        if kind == JobKind.SHELL and not (final("script", "") or "").strip():
            errors["script"] = ["A shell job needs a script."]
        if kind == JobKind.COMMAND and not final("command", []):
            errors["command"] = ["A command job needs argv (a non-empty list)."]
        if kind == JobKind.HTTP and not final("http_url", ""):
            errors["http_url"] = ["An HTTP job needs a URL."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class JobOutput(serializers.Serializer):
    # the seed's example keys first, in its order
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

    def get_secret_env_vars(self, job) -> dict[str, str]:
        return dict.fromkeys(job.secret_env_vars or {}, SECRET_MASK)

    @extend_schema_field(ScheduleSerializer(allow_null=True))
    def get_schedule(self, job):
        # a missing one-to-one raises RelatedObjectDoesNotExist, an AttributeError
        return schedule_dict(getattr(job, "schedule", None))


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


class PreviewInput(serializers.Serializer):
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


class ScheduleTaskInput(serializers.Serializer):
    """LocalFlow's POST/PUT /api/schedules."""

    name = serializers.CharField(max_length=200)
    cron_expr = serializers.CharField(max_length=200)
    task_type = serializers.ChoiceField(choices=["shell", "http"])
    payload = serializers.DictField()
    enabled = serializers.BooleanField(required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    priority = serializers.IntegerField(min_value=-1000, max_value=1000, required=False)

    def validate_timezone(self, value):
        if not timezone_valid(value):
            raise serializers.ValidationError(f"Unknown time zone {value!r}.")
        return value


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


class ScheduleTaskListOutput(serializers.Serializer):
    schedules = ScheduleTaskOutput(many=True)
    total = serializers.IntegerField()


# ---- LocalFlow task payloads (POST /api/tasks and /api/schedules) ----


class ShellPayload(serializers.Serializer):
    """LocalFlow's shell handler: a command and its arguments, run WITHOUT a shell."""

    command = serializers.CharField(max_length=4096, trim_whitespace=False)
    args = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=100_000),
        required=False,
        default=list,
        max_length=1000,
    )
    timeout = serializers.IntegerField(min_value=1, required=False)
    working_dir = serializers.CharField(max_length=1000, required=False)

    def validate_command(self, value):
        if not value.strip() or "\x00" in value:
            raise serializers.ValidationError("A command is required.")
        return value

    def validate_args(self, value):
        if any("\x00" in part for part in value):
            raise serializers.ValidationError("Arguments cannot contain NUL.")
        return value

    def validate_timeout(self, value):
        limit = settings.TASKFLOW["MAX_JOB_TIMEOUT"]
        if value > limit:
            raise serializers.ValidationError(f"At most {limit} seconds (MAX_JOB_TIMEOUT).")
        return value

    def validate_working_dir(self, value):
        if not value.startswith("/") or "\x00" in value:
            raise serializers.ValidationError("Must be an absolute path.")
        return value


class HttpPayload(serializers.Serializer):
    """LocalFlow's http handler."""

    url = serializers.URLField(max_length=2000)
    method = serializers.ChoiceField(choices=HTTP_METHODS, default="GET")
    headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=8000), required=False, default=dict
    )
    body = serializers.JSONField(required=False, default="")
    timeout = serializers.IntegerField(min_value=1, required=False, default=30)

    def validate_headers(self, value):
        for key, header in value.items():
            if not HEADER_NAME.match(key) or "\r" in header or "\n" in header:
                raise serializers.ValidationError(f"Invalid header {key!r}.")
        return value

    def validate_timeout(self, value):
        limit = settings.TASKFLOW["MAX_JOB_TIMEOUT"]
        if value > limit:
            raise serializers.ValidationError(f"At most {limit} seconds (MAX_JOB_TIMEOUT).")
        return value

    def validate_body(self, value):
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value)


def task_payload(task_type: str, payload) -> dict:
    """Validate a LocalFlow payload for its type; errors are nested under "payload"."""
    serializer_class = ShellPayload if task_type == "shell" else HttpPayload
    serializer = serializer_class(data=payload)
    if not serializer.is_valid():
        raise serializers.ValidationError({"payload": serializer.errors})
    return dict(serializer.validated_data)


def task_job_fields(task_type: str, payload: dict) -> dict:
    """A validated LocalFlow payload as Job fields (shell -> kind "command", argv, no shell)."""
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
    if payload.get("timeout"):
        fields["timeout_seconds"] = payload["timeout"]
    return fields


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
