"""Runs API (list, get, cancel, re-run, logs, download) and LocalFlow's /api/tasks.

Authorization is `Run.objects.visible_to(user)` + get_object_or_404 (another user's run is a
404). LocalFlow tasks are admin-only: a task is arbitrary command execution.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import renderers, status
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from accounts.permissions import IsAdmin
from accounts.throttles import RunThrottle, UserThrottle
from jobs.models import Job, JobKind
from jobs.params import ParamsInvalid
from jobs.serializers import task_job
from runs import services as run_services
from runs import wire
from runs.models import Run, TriggerType
from runs.recent import newest_page
from runs.serializers import (
    TASK_STATUS,
    JobRunInput,
    LogPageOutput,
    LogQuery,
    RunDetailOutput,
    RunListOutput,
    RunListQuery,
    RunOutput,
    RunTriggeredOutput,
    TaskInput,
    TaskOutput,
)
from runs.spec import RunSpec
from taskflow_site.lib.api import (
    IDEMPOTENCY_HEADER,
    Conflict,
    envelope,
    idempotency_key,
    no_body,
    parse_query,
)

TOTAL_CAP = 10_000


def _visible_run(request, pk) -> Run:
    runs = Run.objects.visible_to(request.user).select_related("job", "triggered_by")
    return get_object_or_404(runs, pk=pk)


def params_refused(exc: ParamsInvalid) -> ValidationError:
    """jobs.params.ParamsInvalid as the 400's details: {"params": {"NAME": [message]}}."""
    whole = exc.errors.get("params")
    if whole is not None:
        return ValidationError({"params": [whole]})
    return ValidationError({"params": {name: [text] for name, text in exc.errors.items()}})


def _enqueue(call, **kwargs):
    """A runs.services enqueue; bad values are a 400, a reused key with others a 409."""
    try:
        return call(**kwargs)
    except ParamsInvalid as exc:
        raise params_refused(exc) from None
    except run_services.IdempotencyConflict as exc:
        raise Conflict(str(exc)) from None


class JobRunApi(APIView):
    throttle_classes = [UserThrottle, RunThrottle]

    @extend_schema(
        request=JobRunInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: RunTriggeredOutput, 200: RunTriggeredOutput},
        tags=["jobs"],
    )
    def post(self, request, pk):
        job = get_object_or_404(Job.objects.visible_to(request.user), pk=pk)
        body = JobRunInput(data=request.data if request.data is not None else {})
        body.is_valid(raise_exception=True)
        run, created = _enqueue(
            run_services.run_enqueue,
            job=job,
            trigger_type=TriggerType.MANUAL,
            triggered_by=request.user,
            idempotency_key=idempotency_key(request, f"manual:{request.user.pk}:{job.pk}"),
            params=body.validated_data.get("params"),
        )
        data = {
            "runId": run.id,
            "jobId": job.id,
            "status": run.status,
            "triggeredAt": run.created_at,
        }
        return envelope(
            RunTriggeredOutput(data).data,
            status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RunListApi(APIView):
    @extend_schema(parameters=[RunListQuery], responses=RunListOutput, tags=["runs"])
    def get(self, request):
        query = parse_query(RunListQuery, request)
        if request.user.is_admin:
            runs = Run.objects.all()
        else:
            # = visible_to(user), written as `job_id IN (the user's jobs)` rather than a join
            # so SQLite can use (job, status, created_at) for status filters and the count
            # instead of reading every run of a status in the table
            runs = Run.objects.filter(job__in=Job.objects.visible_to(request.user).values("id"))
        if query.get("job"):
            runs = runs.filter(job_id=query["job"])
        if query.get("status"):
            runs = runs.filter(status__in=query["status"])
        if query.get("trigger_type"):
            runs = runs.filter(trigger_type=query["trigger_type"])
        if query.get("from"):
            runs = runs.filter(created_at__gte=query["from"])
        if query.get("to"):
            runs = runs.filter(created_at__lt=query["to"])
        page = runs.select_related("job", "triggered_by").order_by("-created_at")
        if request.user.is_admin:
            # no owner join: the created_at index alone serves the page
            rows = page[query["offset"] : query["offset"] + query["limit"]]
        else:
            rows = newest_page(page, offset=query["offset"], limit=query["limit"])
        # an exact COUNT(*) over millions of runs costs more than the page itself: count up to
        # a cap and say whether the figure is exact; created_at (in every run index a list walks:
        # created, job+time, job+status+time, status+time) keeps it from reading table rows
        total = runs.order_by().values("created_at")[: TOTAL_CAP + 1].count()
        return envelope(
            {
                "runs": RunOutput(rows, many=True).data,
                "total": min(total, TOTAL_CAP),
                "totalExact": total <= TOTAL_CAP,
                "limit": query["limit"],
                "offset": query["offset"],
            }
        )


class RunDetailApi(APIView):
    @extend_schema(responses=RunDetailOutput, tags=["runs"])
    def get(self, request, pk):
        return envelope(RunDetailOutput(_visible_run(request, pk)).data)


class RunCancelApi(APIView):
    @extend_schema(request=None, responses=RunOutput, tags=["runs"])
    def post(self, request, pk):
        no_body(request)
        run = _visible_run(request, pk)
        run = run_services.run_cancel(run=run, by=request.user)  # idempotent
        return envelope(RunOutput(_visible_run(request, run.pk)).data)


class RunRerunApi(APIView):
    throttle_classes = [UserThrottle, RunThrottle]

    @extend_schema(request=None, responses={201: RunOutput}, tags=["runs"])
    def post(self, request, pk):
        no_body(request)
        run = _visible_run(request, pk)
        if run.job_id is None:
            raise ValidationError({"non_field_errors": ["A LocalFlow task has no job to re-run."]})
        new_run, created = _enqueue(run_services.run_rerun, run=run, by=request.user)
        return envelope(
            RunOutput(_visible_run(request, new_run.pk)).data,
            status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RunLogsApi(APIView):
    @extend_schema(parameters=[LogQuery], responses=LogPageOutput, tags=["runs"])
    def get(self, request, pk):
        run = _visible_run(request, pk)
        query = parse_query(LogQuery, request)
        # one line more than asked tells whether another page exists
        lines = run_services.run_log_lines(run=run, after=query["after"], limit=query["limit"] + 1)
        has_more = len(lines) > query["limit"]
        lines = lines[: query["limit"]]
        data = {
            "runId": run.id,
            "lines": [wire.log_line(line) for line in lines],
            "nextAfter": lines[-1].number if lines else query["after"],
            "hasMore": has_more,
            "runStatus": run.status,
        }
        return envelope(LogPageOutput(data).data)


class AnyAccept(BaseContentNegotiation):
    """The download is text/plain whatever the client accepts; errors stay JSON envelopes."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class RunLogDownloadApi(APIView):
    renderer_classes = [renderers.JSONRenderer]  # for errors; success streams text/plain
    content_negotiation_class = AnyAccept

    @extend_schema(
        responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR)}, tags=["runs"]
    )
    def get(self, request, pk):
        run = _visible_run(request, pk)
        response = StreamingHttpResponse(
            run_services.run_log_text(run=run), content_type="text/plain; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="run-{run.id}.log"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


# ---- LocalFlow tasks ----


def task_view(run: Run) -> dict:
    """A task as LocalFlow shows it: one task whatever its attempts (each is a run, parent =
    the first): status, attempts and result are the latest attempt's."""
    spec = RunSpec.from_json(run.spec or {})
    latest = run
    if run.parent_id is None:
        latest = Run.objects.filter(parent=run).order_by("-attempt").first() or run
    if spec.kind == JobKind.COMMAND:
        task_type = "shell"
        payload = {
            "command": spec.argv[0] if spec.argv else "",
            "args": list(spec.argv[1:]),
            "timeout": spec.timeout_seconds,
        }
    else:
        task_type = spec.kind
        payload = {
            "url": spec.url,
            "method": spec.method,
            "headers": dict(spec.headers),
            "body": spec.body,
            "timeout": spec.timeout_seconds,
        }
    key = run.idempotency_key
    return TaskOutput(
        {
            "id": run.id,
            "type": task_type,
            "payload": payload,
            "priority": run.priority,
            "idempotency_key": key.split(":", 1)[1] if key and key.startswith("task:") else key,
            "status": TASK_STATUS.get(latest.status, latest.status),
            "runStatus": latest.status,
            "attempts": latest.attempt,
            "max_attempts": spec.retry.count + 1,
            "backoff": spec.retry.backoff,
            "retry_delay_seconds": spec.retry.delay_seconds,
            "exitCode": latest.exit_code,
            "error": latest.error_message or None,
            "createdAt": run.created_at,
            "startedAt": run.started_at,
            "finishedAt": latest.finished_at,
            "duration": latest.duration_ms,
        }
    ).data


class TaskCreateApi(APIView):
    permission_classes = [IsAdmin]
    throttle_classes = [UserThrottle, RunThrottle]

    @extend_schema(
        request=TaskInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: TaskOutput, 200: TaskOutput},
        tags=["localflow"],
    )
    def post(self, request):
        serializer = TaskInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = task_job(data["type"], data["payload"])  # the job rules judge the payload
        job.retry_count = data["max_attempts"] - 1  # a job's retry policy, in LocalFlow's terms
        job.retry_backoff = data["backoff"]
        job.retry_delay_seconds = data["retry_delay_seconds"]
        # LocalFlow sends the key in the body; the Idempotency-Key header works too
        key = data.get("idempotency_key") or request.headers.get("Idempotency-Key") or None
        if key is not None and (len(key) > 150 or not key.isprintable()):
            raise ValidationError({"idempotency_key": ["At most 150 printable characters."]})
        run, created = run_services.run_enqueue_task(
            spec=RunSpec.from_job(job),
            priority=data["priority"],
            idempotency_key=f"task:{key}" if key else None,  # never collides with job runs
            triggered_by=request.user,
        )
        return envelope(task_view(run), status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class TaskDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=TaskOutput, tags=["localflow"])
    def get(self, request, pk):
        return envelope(task_view(get_object_or_404(Run, pk=pk, job__isnull=True)))
