"""TaskFlow's admin site: every active staff user gets in, roles decide what they see.

Plus the pages in the admin's look (dashboard, metrics). They have no JSON views of their own:
the first paint embeds what the API would return, the scripts then call /api/... with the
session cookie (docs/architecture.md, record 10).
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from jobs.models import Job
from jobs.serializers import JobOutput
from metrics.services import dashboard_stats, job_metrics, jobs_metrics, upcoming_jobs
from runs.models import Run, TriggerType
from runs.recent import newest_page
from runs.serializers import RunOutput

RECENT_RUNS = 12
UPCOMING_JOBS = 10
RANGES = (7, 30, 90)  # days; the API's ?range=7d|30d|90d


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
        extra = [path("metrics/", self.admin_view(self.metrics_page), name="metrics")]
        return extra + super().get_urls()

    # ---- dashboard ----

    def index(self, request, extra_context=None):
        user = request.user
        # what GET /api/runs?limit=12 lists (newest first, no sort of all of a user's runs)
        recent = Run.objects.visible_to(user).select_related("job", "triggered_by")
        recent = newest_page(recent.order_by("-created_at"), offset=0, limit=RECENT_RUNS)
        context = {
            "dashboard": {
                "stats": dashboard_stats(user=user),
                "runs": RunOutput(recent, many=True).data,
                "upcoming": JobOutput(
                    upcoming_jobs(user=user, limit=UPCOMING_JOBS), many=True
                ).data,
            },
            "dashboard_urls": {
                "stats": reverse("dashboard-stats"),
                "runs": f"{reverse('run-list')}?limit={RECENT_RUNS}",
                "upcoming": f"{reverse('dashboard-upcoming')}?limit={UPCOMING_JOBS}",
                # admin pages of a run and a job; the script puts the id in place of __id__
                "runPage": reverse("admin:runs_run_change", args=["__id__"]),
                "jobPage": reverse("admin:jobs_job_change", args=["__id__"]),
            },
            "trigger_labels": dict(TriggerType.choices),
            **(extra_context or {}),
        }
        return super().index(request, context)

    # ---- metrics ----

    def metrics_page(self, request):
        """GET /api/metrics or /api/jobs/<id>/metrics, drawn: the same service, the same numbers."""
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
        if range_days not in RANGES:
            range_days = 7
        if job is None:
            history = jobs_metrics(user=request.user, range_days=range_days)
        else:
            history = job_metrics(job=job, range_days=range_days)
        context = {
            **self.each_context(request),
            "title": f"Metrics — {job.name if job else 'all jobs'}",
            "jobs": jobs,
            "job": job,
            "range_days": range_days,
            "ranges": RANGES,
            "history": history,
        }
        request.current_app = self.name
        return TemplateResponse(request, "taskflow/metrics.html", context)
