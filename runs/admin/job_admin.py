"""The job pages with their runs: the latest run per job, Run now (action and button).

jobs.admin.JobAdmin is the editor and list; this subclass adds what needs runs and registers it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from jobs.admin import JobAdmin
from jobs.models import Job
from runs.models import Run, RunStatus, TriggerType
from runs.services import run_enqueue
from taskflow_site.lib.admin import status_badge, time_tag


@admin.register(Job)
class JobRunsAdmin(JobAdmin):
    actions = ["run_now", *JobAdmin.actions]

    def get_queryset(self, request):
        # the latest run per job, through the (job, -created_at) index: one probe per row shown
        latest = Run.objects.filter(job=OuterRef("pk")).order_by("-created_at")
        return (
            super()
            .get_queryset(request)
            .select_related("created_by", "schedule")
            .annotate(
                latest_run_id=Subquery(latest.values("id")[:1]),
                latest_run_status=Subquery(latest.values("status")[:1]),
                latest_run_at=Subquery(latest.values("created_at")[:1]),
            )
        )

    @admin.display(description="Last run")
    def last_run(self, job):
        run_id = getattr(job, "latest_run_id", None)
        if run_id is None:
            return time_tag(job.last_run_at)
        return format_html(
            '<a href="{}">{}</a> {}',
            reverse("admin:runs_run_change", args=[run_id]),
            status_badge(job.latest_run_status),
            time_tag(job.latest_run_at),
        )

    @admin.action(description="Run selected jobs now", permissions=["run"])
    def run_now(self, request, queryset):
        for job in queryset:
            self._enqueue(request, job)

    def _enqueue(self, request, job):

        run, created = run_enqueue(
            job=job, trigger_type=TriggerType.MANUAL, triggered_by=request.user
        )
        link = reverse("admin:runs_run_change", args=[run.id])
        if run.status == RunStatus.SKIPPED:
            self.message_user(
                request,
                format_html(
                    '{}: run <a href="{}">skipped</a> — {}',
                    job.name,
                    link,
                    run.error_message or "policy",
                ),
                messages.WARNING,
            )
        else:
            verb = "queued" if created else "already queued"
            self.message_user(
                request,
                format_html('{}: run <a href="{}">{}</a>.', job.name, link, verb),
                messages.SUCCESS,
            )
        return run

    # ---- per-object "Run now" button ----

    def get_urls(self):
        extra = [
            path(
                "<path:object_id>/run/",
                self.admin_site.admin_view(self.run_view),
                name="jobs_job_run",
            ),
        ]
        return extra + super().get_urls()

    def run_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self.get_object(request, object_id)  # 404 outside the viewer's jobs
        run = self._enqueue(request, job)
        return HttpResponseRedirect(reverse("admin:runs_run_change", args=[run.id]))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                run_url=reverse("admin:jobs_job_run", args=[obj.pk]),
                runs_url=reverse("admin:runs_run_changelist") + f"?job={obj.pk}",
            )
        return super().render_change_form(request, context, add, change, form_url, obj)
