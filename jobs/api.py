"""Jobs API (docs/api.md), LocalFlow's /api/schedules on the same Job model, and time zones.

Authorization is `Job.objects.visible_to(user)` + get_object_or_404: another user's job is a
404. Only admins create jobs (and may name the owner); users edit and run their own.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import IsAdmin
from accounts.serializers import DeletedOutput
from jobs import services as job_services
from jobs.models import Job
from jobs.schedule import ScheduleError
from jobs.secrets import job_secret_values
from jobs.serializers import (
    SECRET_MASK,
    JobInput,
    JobListOutput,
    JobListQuery,
    JobOutput,
    PreviewInput,
    PreviewOutput,
    PreviewQuery,
    ScheduleTaskInput,
    ScheduleTaskListOutput,
    ScheduleTaskOutput,
    TimezoneListOutput,
    TimezoneOutput,
    job_task_view,
    task_details,
    task_job_fields,
    task_payload,
)
from jobs.timezones import server_timezone, timezone_list
from jobs.webhook_api import JobCreatedOutput
from taskflow_site.lib.api import (
    FieldsRefused,
    PageQuery,
    envelope,
    no_body,
    parse_query,
    validation_details,
)

GRID_KEYS = {"years", "months", "days", "weekdays", "hours", "minutes", "cron_expr"}


def _schedule_errors(exc: ScheduleError) -> exceptions.ValidationError:
    """ScheduleError's fields -> details: schedule fields nested under "schedule"."""
    details: dict = {}
    nested: dict = {}
    for field, messages in exc.errors.items():
        if field in GRID_KEYS:
            nested[field] = messages
        elif field == "schedule":
            nested.setdefault("non_field_errors", []).extend(messages)
        else:
            details[field] = messages
    if nested:
        details["schedule"] = nested
    return exceptions.ValidationError(details)


def _save(call, **kwargs) -> Job:
    """Run a jobs.services write; its validation errors become per-field 400s."""
    try:
        return call(**kwargs)
    except ScheduleError as exc:
        raise _schedule_errors(exc) from None
    except DjangoValidationError as exc:
        details = validation_details(exc)
        for key in [key for key in details if key.startswith("schedule.")]:
            nested = details.setdefault("schedule", {})
            if isinstance(nested, list):  # a message about the schedule as a whole
                details["schedule"] = nested = {"non_field_errors": nested}
            nested[key.removeprefix("schedule.")] = details.pop(key)
        raise exceptions.ValidationError(details) from None


def _owner(value: str) -> User:
    owner = None
    if value.isdigit() and len(value) < 19:
        owner = User.objects.filter(pk=int(value)).first()
    owner = owner or User.objects.filter(username=value).first()
    if owner is None:
        raise exceptions.ValidationError({"created_by": ["No such user."]})
    return owner


def _job_fields(request, data: dict, *, job: Job | None) -> dict:
    """Validated input -> keyword arguments for job_create/job_update (RBAC on the owner)."""
    fields = dict(data)
    fields.pop("schedule", None)
    if "created_by" in fields:
        if not request.user.is_admin:  # E7: users never choose an owner
            raise exceptions.ValidationError({"created_by": ["Only admins assign an owner."]})
        fields["created_by"] = _owner(fields["created_by"])
    if job is not None and "secret_env_vars" in fields:
        # the API never returns secret values; "***" means "keep what is stored"
        old = job_secret_values(job)
        fields["secret_env_vars"] = {
            key: old.get(key, "") if value == SECRET_MASK else value
            for key, value in fields["secret_env_vars"].items()
        }
    return fields


def _refuse_guarded(request, job: Job, fields: dict) -> None:
    """403 naming each field this user may not change (jobs.services.job_fields_refused)."""
    refused = job_services.job_fields_refused(user=request.user, job=job, fields=fields)
    if not refused:
        return
    if job_services.jobs_run_apart():
        why = "Only admins choose the OS user a job runs as and its resource limits."
    else:
        why = (
            "Only admins may change what a job runs while jobs run as the server's own user "
            "(no separate job user is configured)."
        )
    raise FieldsRefused(f"{why} Refused: {', '.join(refused)}.", fields=refused)


def _visible_job(request, pk) -> Job:
    jobs = Job.objects.visible_to(request.user).select_related("created_by", "schedule")
    return get_object_or_404(jobs, pk=pk)


def _job_data(job: Job) -> dict:
    job = Job.objects.select_related("created_by", "schedule").get(pk=job.pk)
    return JobOutput(job).data


class JobListApi(APIView):
    @extend_schema(parameters=[JobListQuery], responses=JobListOutput, tags=["jobs"])
    def get(self, request):
        query = parse_query(JobListQuery, request)
        jobs = Job.objects.visible_to(request.user).select_related("created_by", "schedule")
        jobs = jobs.prefetch_related("followup_links__target")  # JobOutput's followups
        if query.get("enabled") is not None:
            jobs = jobs.filter(enabled=query["enabled"])
        if query.get("kind"):
            jobs = jobs.filter(kind=query["kind"])
        if query.get("search"):
            jobs = jobs.filter(
                Q(name__icontains=query["search"]) | Q(description__icontains=query["search"])
            )
        if query.get("created_by"):
            jobs = jobs.filter(created_by__username=query["created_by"])
        rows = jobs.order_by("name", "id")[query["offset"] : query["offset"] + query["limit"]]
        return envelope({"jobs": JobOutput(rows, many=True).data, "total": jobs.count()})

    @extend_schema(request=JobInput, responses={201: JobCreatedOutput}, tags=["jobs"])
    def post(self, request):
        if not request.user.is_admin:
            raise exceptions.PermissionDenied("Only admins create jobs.")
        serializer = JobInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = _job_fields(request, serializer.validated_data, job=None)
        created_by = fields.pop("created_by", request.user)
        job = _save(
            job_services.job_create,
            created_by=created_by,
            schedule=serializer.validated_data.get("schedule"),
            **fields,
        )
        data = {**_job_data(job), "webhookSecret": job.webhook_secret_shown}  # shown this once
        return envelope(data, status.HTTP_201_CREATED)


class JobDetailApi(APIView):
    @extend_schema(responses=JobOutput, tags=["jobs"])
    def get(self, request, pk):
        return envelope(JobOutput(_visible_job(request, pk)).data)

    def _update(self, request, pk, *, partial: bool):
        job = _visible_job(request, pk)
        serializer = JobInput(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        fields = _job_fields(request, serializer.validated_data, job=job)
        _refuse_guarded(request, job, fields)
        if "schedule" in serializer.validated_data:
            fields["schedule"] = serializer.validated_data["schedule"]
        new_owner = fields.pop("created_by", None)
        with transaction.atomic():
            job = _save(job_services.job_update, job=job, **fields)
            if new_owner is not None:
                job = _save(job_services.job_set_owner, job=job, owner=new_owner)
        return envelope(_job_data(job))

    @extend_schema(request=JobInput, responses=JobOutput, tags=["jobs"])
    def put(self, request, pk):
        return self._update(request, pk, partial=False)

    @extend_schema(request=JobInput, responses=JobOutput, tags=["jobs"])
    def patch(self, request, pk):
        return self._update(request, pk, partial=True)

    @extend_schema(responses=DeletedOutput, tags=["jobs"])
    def delete(self, request, pk):
        no_body(request)
        job = _visible_job(request, pk)
        job_services.job_delete(job=job)
        return envelope({"id": str(pk), "deleted": True})


class JobEnableApi(APIView):
    enabled = True

    @extend_schema(request=None, responses=JobOutput, tags=["jobs"])
    def post(self, request, pk):
        no_body(request)
        job = _visible_job(request, pk)
        job = _save(job_services.job_set_enabled, job=job, enabled=self.enabled)
        return envelope(_job_data(job))


class JobDisableApi(JobEnableApi):
    enabled = False


class JobPreviewApi(APIView):
    @extend_schema(parameters=[PreviewQuery], responses=PreviewOutput, tags=["jobs"])
    def get(self, request, pk):
        job = _visible_job(request, pk)
        count = parse_query(PreviewQuery, request)["count"]
        schedule = job_services.job_schedule(job)
        times = []
        if schedule is not None:
            times = _save(
                job_services.job_preview, schedule=schedule, tz_name=job.timezone, count=count
            )
        return envelope(PreviewOutput({"timezone": job.timezone, "nextRuns": times}).data)


class SchedulePreviewApi(APIView):
    """Next fire times of a draft schedule (the job editor shows them before saving)."""

    @extend_schema(request=PreviewInput, responses=PreviewOutput, tags=["jobs"])
    def post(self, request):
        serializer = PreviewInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        times = _save(
            job_services.job_preview,
            schedule=dict(data["schedule"]),
            tz_name=data["timezone"],
            count=data["count"],
        )
        return envelope(PreviewOutput({"timezone": data["timezone"], "nextRuns": times}).data)


# ---- time zones ----


class ServerTimezoneApi(APIView):
    permission_classes = [IsAdmin]  # "view system settings" is admin-only (docs/api.md)

    @extend_schema(responses=TimezoneOutput, tags=["settings"])
    def get(self, request):
        return envelope(TimezoneOutput(server_timezone()).data)


class TimezoneListApi(APIView):
    @extend_schema(responses=TimezoneListOutput, tags=["settings"])
    def get(self, request):
        zones = timezone_list()
        return envelope({"timezones": zones, "total": len(zones)})


# ---- LocalFlow schedules (admin-only: a schedule runs arbitrary commands) ----


def _schedule_task_data(job: Job) -> dict:
    task_type, payload = job_task_view(job)
    schedule = getattr(job, "schedule", None)
    return ScheduleTaskOutput(
        {
            "id": job.id,
            "name": job.name,
            "cron_expr": schedule.cron_expr if schedule is not None else "",
            "task_type": task_type,
            "payload": payload,
            "enabled": job.enabled,
            "timezone": job.timezone,
            "priority": job.priority,
            "nextRun": job.next_run_at,
            "lastRun": job.last_run_at,
            "createdAt": job.created_at,
        }
    ).data


def _save_schedule_task(call, **kwargs) -> Job:
    """_save, with LocalFlow's names: schedule errors flattened (cron_expr is a top-level
    field), the payload's fields under "payload"."""
    try:
        return _save(call, **kwargs)
    except exceptions.ValidationError as exc:
        details = dict(exc.detail)
        nested = details.pop("schedule", None)
        if isinstance(nested, dict):
            for key, messages in nested.items():
                details["cron_expr" if key == "non_field_errors" else key] = messages
        raise exceptions.ValidationError(task_details(details)) from None


def _schedule_task_fields(data: dict) -> dict:
    payload = task_payload(data["task_type"], data["payload"])
    fields = task_job_fields(data["task_type"], payload)
    fields["name"] = data["name"]
    for key in ("enabled", "timezone", "priority"):
        if key in data:
            fields[key] = data[key]
    return fields


class ScheduleTaskListApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(parameters=[PageQuery], responses=ScheduleTaskListOutput, tags=["localflow"])
    def get(self, request):
        page = parse_query(PageQuery, request)
        # LocalFlow's schedules: the jobs that have one (a manual-only job is no schedule)
        jobs = Job.objects.filter(schedule__isnull=False).select_related("schedule")
        jobs = jobs.order_by("name", "id")
        rows = jobs[page["offset"] : page["offset"] + page["limit"]]
        return envelope(
            {"schedules": [_schedule_task_data(job) for job in rows], "total": jobs.count()}
        )

    @extend_schema(
        request=ScheduleTaskInput, responses={201: ScheduleTaskOutput}, tags=["localflow"]
    )
    def post(self, request):
        serializer = ScheduleTaskInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = _schedule_task_fields(serializer.validated_data)
        job = _save_schedule_task(
            job_services.job_create,
            created_by=request.user,
            schedule={"cron_expr": serializer.validated_data["cron_expr"]},
            **fields,
        )
        job = Job.objects.select_related("schedule").get(pk=job.pk)
        return envelope(_schedule_task_data(job), status.HTTP_201_CREATED)


def _visible_schedule(request, pk) -> Job:
    """A job with a schedule (another job is no LocalFlow schedule: 404)."""
    jobs = Job.objects.visible_to(request.user).filter(schedule__isnull=False)
    return get_object_or_404(jobs.select_related("created_by", "schedule"), pk=pk)


class ScheduleTaskDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=ScheduleTaskOutput, tags=["localflow"])
    def get(self, request, pk):
        return envelope(_schedule_task_data(_visible_schedule(request, pk)))

    @extend_schema(request=ScheduleTaskInput, responses=ScheduleTaskOutput, tags=["localflow"])
    def put(self, request, pk):
        job = _visible_schedule(request, pk)
        serializer = ScheduleTaskInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = _schedule_task_fields(serializer.validated_data)
        job = _save_schedule_task(
            job_services.job_update,
            job=job,
            schedule={"cron_expr": serializer.validated_data["cron_expr"]},
            **fields,
        )
        job = Job.objects.select_related("schedule").get(pk=job.pk)
        return envelope(_schedule_task_data(job))

    @extend_schema(responses=DeletedOutput, tags=["localflow"])
    def delete(self, request, pk):
        no_body(request)
        job = _visible_schedule(request, pk)
        job_services.job_delete(job=job)
        return envelope({"id": str(pk), "deleted": True})
