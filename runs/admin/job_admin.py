"""The job pages with their runs: the job page (overview), the latest run per job in the list,
Run now (action and button), and the change history from the audit trail.

jobs.admin.JobAdmin is the editor and list; this subclass adds what needs runs and registers it.
A job link opens the overview; editing is one click away from it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.throttles import RunThrottle, door_wait
from jobs.admin import JobAdmin
from jobs.models import Job
from jobs.param_forms import RunParamsForm, run_form_context
from jobs.params import ParamsInvalid
from jobs.services import job_schedule
from runs.admin.words import schedule_words
from runs.models import Run, RunStatus, TriggerType
from runs.services import run_enqueue
from taskflow_site.lib.admin import duration_text, status_badge, time_tag


class LastRunFilter(admin.SimpleListFilter):
    """Jobs by their latest run (JobRunsAdmin.get_queryset annotates it)."""

    title = "last run"
    parameter_name = "last_run"
    STATUSES = {
        "failed": [RunStatus.FAILURE, RunStatus.TIMEOUT],
        "running": [RunStatus.RUNNING, RunStatus.PENDING],
        "success": [RunStatus.SUCCESS],
    }

    def lookups(self, request, model_admin):
        return [
            ("failed", "Failed"),
            ("running", "Running or queued"),
            ("success", "Succeeded"),
            ("never", "Never run"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "never":
            return queryset.filter(latest_run_id__isnull=True)
        if self.value() in self.STATUSES:
            return queryset.filter(latest_run_status__in=self.STATUSES[self.value()])
        return queryset


class JobChangeList(ChangeList):
    """Rows link to the job's page (the admin site serves it), not straight to its editor."""

    def url_for_result(self, result):
        return reverse("admin:jobs_job_overview", args=[result.pk])


@admin.register(Job)
class JobRunsAdmin(JobAdmin):  # its History page (the audit trail) comes with JobAdmin
    actions = ["run_now", *JobAdmin.actions]
    list_display = [
        "name",
        "last_run",
        "enabled",
        "schedule_text",
        "next_run",
        "last_duration",
        "owner",
    ]

    def get_list_filter(self, request):
        return [LastRunFilter, *super().get_list_filter(request)]

    def get_changelist(self, request, **kwargs):
        return JobChangeList

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Jobs", **(extra_context or {})})

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
                latest_run_duration=Subquery(latest.values("duration_ms")[:1]),
            )
        )

    @staticmethod
    def schedule_in_words(job) -> str:
        return schedule_words(job_schedule(job))

    @admin.display(description="Schedule")
    def schedule_text(self, job):
        return format_html(
            "{} <span class='tf-zone'>({})</span>", self.schedule_in_words(job), job.timezone
        )

    @admin.display(description="Last duration")
    def last_duration(self, job):
        if getattr(job, "latest_run_status", None) == RunStatus.RUNNING:
            return "running…"
        return duration_text(getattr(job, "latest_run_duration", None))

    @admin.display(description="Last run")
    def last_run(self, job):
        run_id = getattr(job, "latest_run_id", None)
        if run_id is None:
            return time_tag(job.last_run_at)
        return format_html(
            '<a href="{}">{}</a> {}',
            reverse("admin:runs_run_change", args=[run_id]),
            status_badge(job.latest_run_status, RunStatus(job.latest_run_status).label),
            time_tag(job.latest_run_at),
        )

    @admin.action(description="Run selected jobs now", permissions=["run"])
    def run_now(self, request, queryset):
        for job in queryset:
            try:
                if self._enqueue(request, job) is None:
                    return  # throttled: the rest would be too
            except ParamsInvalid as exc:  # a required parameter without a default
                self.message_user(
                    request,
                    format_html(
                        '{}: not started — {} <a href="{}">Run it with values</a>.',
                        job.name,
                        "; ".join(f"{name}: {text}" for name, text in exc.errors.items()),
                        reverse("admin:jobs_job_run", args=[job.pk]),
                    ),
                    messages.ERROR,
                )

    def _enqueue(self, request, job, params=None):
        """Queue a run (`params`: its values; None = the defaults), within the same per-user
        limit as POST /api/jobs/<id>/run; None (and a message) when over it. Raises
        ParamsInvalid for values that do not fit the job's parameters."""
        wait = door_wait(RunThrottle, request)
        if wait is not None:
            self.message_user(
                request, f"Too many runs started: try again in {wait} s.", messages.ERROR
            )
            return None
        run, created = run_enqueue(
            job=job, trigger_type=TriggerType.MANUAL, triggered_by=request.user, params=params
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

    def response_post_save_add(self, request, obj):
        return HttpResponseRedirect(reverse("admin:jobs_job_overview", args=[obj.pk]))

    def response_post_save_change(self, request, obj):
        return HttpResponseRedirect(reverse("admin:jobs_job_overview", args=[obj.pk]))

    def run_view(self, request, object_id):
        """POST: Run now (with the defaults, or with the values of the run form when it sent
        them); GET: the run form, a page of its own for a job with parameters."""
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        job = self.get_object(request, object_id)  # 404 outside the viewer's jobs
        declared = job.params or []
        if request.method == "GET":
            return self._run_form_page(request, job, RunParamsForm(declared))
        form = RunParamsForm(declared, request.POST) if "_params" in request.POST else None
        try:
            values = form.values() if form is not None and form.is_valid() else None
            run = self._enqueue(request, job, params=values)
        except ParamsInvalid as exc:
            if form is None:  # plain Run now, a required value missing: ask for it
                self.message_user(request, "This job needs values to run.", messages.WARNING)
                return HttpResponseRedirect(reverse("admin:jobs_job_run", args=[job.pk]))
            form.add_param_errors(exc.errors)
            return self._run_form_page(request, job, form, status=400)
        if run is None:
            return HttpResponseRedirect(reverse("admin:jobs_job_overview", args=[job.pk]))
        return HttpResponseRedirect(reverse("admin:runs_run_change", args=[run.id]))

    def _run_form_page(self, request, job, form, status=200):
        context = {
            **self.admin_site.each_context(request),
            "title": f"Run {job.name}",
            "opts": self.model._meta,
            "job": job,
            **run_form_context(job, form),
            "job_url": reverse("admin:jobs_job_overview", args=[job.pk]),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/jobs/job/run.html", context, status=status)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                has_params=bool(obj.params),
                run_url=reverse("admin:jobs_job_run", args=[obj.pk]),
                runs_url=reverse("admin:runs_run_changelist") + f"?job={obj.pk}",
                overview_url=reverse("admin:jobs_job_overview", args=[obj.pk]),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)
