"""Health check: the database answers, each required process role beats, and the data
directory's disk has room; /health answers any Host from loopback (`loopback_health`)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from runs.models import WorkerHeartbeat
from taskflow_site.lib.dbcheck import database_pragmas
from taskflow_site.lib.diskfull import (
    DISK_FULL_MESSAGE,
    LOW_SPACE_BYTES,
    disk_full_report,
    free_bytes,
)
from taskflow_site.lib.jobuser import isolation


def health_report() -> tuple[bool, dict]:
    now = timezone.now()
    report: dict = {"status": "ok", "version": settings.VERSION, "checks": {}}
    # who jobs run as: apart from the server, or as it (then only admins change what runs)
    report["jobs"] = isolation(settings.TASKFLOW["JOB_USER"]).as_dict()
    problems: list[str] = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        report["checks"]["database"] = "ok"
        # the web process's own connection settings (WAL, foreign keys, busy timeout)
        report["database"] = database_pragmas()
    except Exception as exc:  # the point of a health check is to report any failure
        report["checks"]["database"] = f"error: {exc.__class__.__name__}"
        problems.append("database is not answering")
    else:
        stale = timedelta(seconds=settings.TASKFLOW["STALE_AFTER_SECONDS"])
        for role in settings.TASKFLOW_HEALTH_ROLES:
            beat = (
                WorkerHeartbeat.objects.filter(role=role)
                .order_by("-heartbeat_at")
                .values_list("heartbeat_at", flat=True)
                .first()
            )
            if beat is None:
                report["checks"][role] = "missing"
                problems.append(f"no {role} heartbeat (is the cluster running?)")
            elif now - beat > stale:
                age = int((now - beat).total_seconds())
                report["checks"][role] = f"stale ({age}s)"
                problems.append(f"{role} heartbeat is {age}s old")
            else:
                report["checks"][role] = "ok"
    free = free_bytes(settings.DATA_DIR)
    if free is not None and free < LOW_SPACE_BYTES:  # only then: the usual report is unchanged
        report["checks"]["disk"] = f"full ({free} bytes free in {settings.DATA_DIR})"
        problems.append(DISK_FULL_MESSAGE)
        disk_full_report("health check")
    if problems:
        report["status"] = "unhealthy"
        report["problems"] = problems
    return not problems, report


@require_GET
def health(request):
    """200 {"status": "ok", ...} or 503 with "problems" naming each failing check."""
    healthy, report = health_report()
    response = JsonResponse(report, status=200 if healthy else 503)
    # an unhealthy report is an answer, not a server error: keep it out of the error log
    response._has_been_logged = True
    return response


LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def loopback_health(get_response):
    """Middleware: /health asked from this machine, directly (no proxy header), is answered
    whatever its Host header says. `taskflow health`, the supervisor and Docker's HEALTHCHECK
    ask http://127.0.0.1:<port>/health, which TASKFLOW_ALLOWED_HOSTS need not list. Sits
    before anything that validates the Host (CommonMiddleware, CSRF); the report names no host
    and builds no URL, so an arbitrary Host cannot leak into it."""

    def middleware(request):
        if (
            request.path_info == "/health"
            and request.META.get("REMOTE_ADDR") in LOOPBACK
            and not any(header in request.META for header in PROXY_HEADERS)
        ):
            return health(request)
        return get_response(request)

    return middleware
