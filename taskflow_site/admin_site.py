"""TaskFlow's admin site: every active staff user gets in, roles decide what they see.

Plus the pages in the admin's look (dashboard, metrics) and their JSON endpoints.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from jobs.models import Job
from jobs.schedule import ScheduleError
from jobs.services import job_preview
from metrics.models import MetricAggregate, PeriodType
from metrics.services import dashboard_stats
from runs.models import Run
from runs.recent import newest_page
from taskflow_site.lib.formatting import iso


class TaskFlowAdminSite(admin.AdminSite):
    site_header = "TaskFlow"
    site_title = "TaskFlow"
    index_title = "Dashboard"
    index_template = "admin/index.html"
    site_url = None  # "/" only redirects back here

    def has_permission(self, request) -> bool:
        # every user is staff; querysets and per-model permissions scope what a role sees
        user = request.user
        return bool(user.is_active and user.is_staff)

    def get_urls(self):
        extra = [
            path("dashboard.json", self.admin_view(self.dashboard_data), name="dashboard_data"),
            path("metrics/", self.admin_view(self.metrics_page), name="metrics"),
            path(
                "schedule-preview/",
                self.admin_view(self.schedule_preview),
                name="schedule_preview",
            ),
        ]
        return extra + super().get_urls()

    # ---- dashboard ----

    def index(self, request, extra_context=None):
        context = {
            "dashboard": dashboard_payload(request),
            "dashboard_url": reverse("admin:dashboard_data", current_app=self.name),
            **(extra_context or {}),
        }
        return super().index(request, context)

    def dashboard_data(self, request):
        return JsonResponse(dashboard_payload(request))

    # ---- schedule preview for the job editor ----

    def schedule_preview(self, request):
        """Next fire times for the editor's current (unsaved) schedule, or field errors."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])

        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JsonResponse({"errors": {"schedule": ["Expected a JSON object."]}}, status=400)
        tz_name = str(body.get("timezone") or "UTC")
        schedule = {
            key: body.get(key) or None
            for key in ("years", "months", "days", "weekdays", "hours", "minutes")
        }
        schedule["cron_expr"] = str(body.get("cron_expr") or "").strip()
        try:
            times = job_preview(schedule=schedule, tz_name=tz_name, count=5)
        except ScheduleError as exc:
            return JsonResponse({"errors": exc.errors}, status=400)
        return JsonResponse({"timezone": tz_name, "times": [t.isoformat() for t in times]})

    # ---- metrics ----

    def metrics_page(self, request):

        jobs = Job.objects.visible_to(request.user).only("id", "name").order_by("name")
        job = None
        job_id = request.GET.get("job") or ""
        if job_id:
            try:
                job = jobs.get(pk=job_id)
            except (Job.DoesNotExist, ValidationError, ValueError) as exc:
                raise Http404("No such job.") from exc
        try:
            range_days = int(request.GET.get("range", 7))
        except ValueError:
            range_days = 7
        if range_days not in (7, 30, 90):
            range_days = 7
        context = {
            **self.each_context(request),
            "title": f"Metrics — {job.name if job else 'all jobs'}",
            "jobs": jobs,
            "job": job,
            "range_days": range_days,
            "ranges": (7, 30, 90),
            "series": metrics_series(user=request.user, job=job, range_days=range_days),
        }
        request.current_app = self.name
        return TemplateResponse(request, "taskflow/metrics.html", context)


def dashboard_payload(request) -> dict:
    """KPIs, recent runs and upcoming runs, scoped to the viewer (one JSON for page and refresh)."""

    user = request.user
    recent = (
        Run.objects.visible_to(user)
        .select_related("job")
        .only(
            "id",
            "status",
            "trigger_type",
            "created_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "exit_code",
            "job__id",
            "job__name",
        )
        .order_by("-created_at")
    )
    recent = newest_page(recent, offset=0, limit=12)  # a user's runs: no sort of all of them
    upcoming = (
        Job.objects.visible_to(user)
        .filter(enabled=True, next_run_at__isnull=False)
        .only("id", "name", "next_run_at", "timezone")
        .order_by("next_run_at")[:10]
    )
    return {
        "stats": dashboard_stats(user=user),
        "recent": [
            {
                "id": str(run.id),
                "url": reverse("admin:runs_run_change", args=[run.id]),
                "job": run.job.name if run.job else "(ad-hoc task)",
                "status": run.status,
                "trigger": run.get_trigger_type_display(),
                "createdAt": iso(run.created_at),
                "startedAt": iso(run.started_at),
                "finishedAt": iso(run.finished_at),
                "duration": run.duration_ms,
                "exitCode": run.exit_code,
            }
            for run in recent
        ],
        "upcoming": [
            {
                "id": str(job.id),
                "url": reverse("admin:jobs_job_change", args=[job.id]),
                "name": job.name,
                "nextRun": iso(job.next_run_at),
                "timezone": job.timezone,
            }
            for job in upcoming
        ],
        "generatedAt": iso(timezone.now()),
    }


def metrics_series(*, user, job, range_days: int) -> dict:
    """Rollups per period for one job or every job the user sees: hourly for 7 days, else daily.

    Reads metrics.MetricAggregate (H5's rollups) and sums the jobs of each period; averages are
    weighted by run count so a busy job counts for what it ran.
    """
    from django.db.models import F, Max, Sum

    period = PeriodType.HOURLY if range_days <= 7 else PeriodType.DAILY
    since = timezone.now() - timedelta(days=range_days)
    rows = MetricAggregate.objects.filter(period_type=period, period_start__gte=since)
    if job is not None:
        rows = rows.filter(job=job)
    elif not user.is_admin:
        rows = rows.filter(job__in=Job.objects.visible_to(user).values("id"))
    grouped = (
        rows.values("period_start")
        .annotate(
            runs=Sum("run_count"),
            success=Sum("success_count"),
            failure=Sum("failure_count"),
            cpu_weighted=Sum(F("avg_cpu_percent") * F("run_count")),
            cpu_max=Max("max_cpu_percent"),
            mem_weighted=Sum(F("avg_memory_bytes") * F("run_count")),
            mem_max=Max("max_memory_bytes"),
            duration_weighted=Sum(F("avg_duration_ms") * F("run_count")),
        )
        .order_by("period_start")
    )
    series = {
        "period": period,
        "t": [],
        "runs": [],
        "success": [],
        "failure": [],
        "cpuAvg": [],
        "cpuMax": [],
        "memAvg": [],
        "memMax": [],
        "durationAvg": [],
    }
    for row in grouped:
        runs = row["runs"] or 0
        series["t"].append(int(row["period_start"].timestamp()))
        series["runs"].append(runs)
        series["success"].append(row["success"] or 0)
        series["failure"].append(row["failure"] or 0)
        series["cpuAvg"].append(_per_run(row["cpu_weighted"], runs))
        series["cpuMax"].append(row["cpu_max"])
        series["memAvg"].append(_per_run(row["mem_weighted"], runs))
        series["memMax"].append(row["mem_max"])
        series["durationAvg"].append(_per_run(row["duration_weighted"], runs))
    total = sum(series["runs"])
    success = sum(series["success"])
    failure = sum(series["failure"])
    series["summary"] = {
        "runs": total,
        "success": success,
        "failure": failure,
        "successRate": (success / total) if total else None,
    }
    return series


def _per_run(weighted, runs: int):
    return round(weighted / runs, 2) if weighted is not None and runs else None
