"""Health check: the database answers and each required process role beats."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from runs.models import WorkerHeartbeat
from taskflow_site.lib.dbcheck import database_pragmas


def health_report() -> tuple[bool, dict]:
    now = timezone.now()
    report: dict = {"status": "ok", "version": settings.VERSION, "checks": {}}
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
