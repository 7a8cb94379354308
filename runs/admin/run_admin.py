"""Run history and the live log viewer: cheap on huge tables, read-only machine fields.

Users see runs of their own jobs (Run.objects.visible_to); cancel and re-run call runs.services.
The viewer reads the run, its lines and its samples from the API (/api/runs/<id>, /logs,
/logs/live, /metrics); the page embeds the run as GET /api/runs/<id> returns it.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import PAGE_VAR
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext as _

from accounts.throttles import RunThrottle, door_wait
from jobs.models import Job
from runs.admin.chain_display import run_chain_context
from runs.models import Run, RunStatus, WorkerHeartbeat
from runs.recent import newest_page
from runs.serializers import RunDetailOutput
from runs.services import run_cancel, run_rerun
from taskflow_site.lib.admin import (
    RoleScopedAdmin,
    bytes_text,
    duration_text,
    status_badge,
    time_tag,
)


class LookaheadPaginator(Paginator):
    """Counts nothing: the page is read with one row more than it shows, which is enough to
    know whether a next page exists, so a list over a million runs costs one page's reads.

    `count` is the rows up to the end of that read, so the admin links the pages up to the
    next one; templates/admin/pagination.html says "1-50 of more runs" (an en dash) then.
    """

    lookahead = True

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, number=1):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.number = max(1, number)

    @cached_property
    def _rows(self) -> list:
        return self._read(offset=(self.number - 1) * self.per_page, limit=self.per_page + 1)

    @cached_property
    def count(self) -> int:
        return (self.number - 1) * self.per_page + len(self._rows)

    @property
    def more(self) -> bool:
        return len(self._rows) > self.per_page

    @property
    def first_shown(self) -> int:
        return (self.number - 1) * self.per_page + 1

    @property
    def last_shown(self) -> int:
        return (self.number - 1) * self.per_page + min(len(self._rows), self.per_page)

    def page(self, number):
        number = self.validate_number(number)
        if number == self.number:
            return self._get_page(self._rows[: self.per_page], number, self)
        bottom = (number - 1) * self.per_page
        return self._get_page(self._read(offset=bottom, limit=self.per_page), number, self)

    def _read(self, *, offset: int, limit: int) -> list:
        """Newest-first pages come through runs.recent.newest_page (no sort of every run)."""
        order = self.object_list.query.order_by or self.object_list.model._meta.ordering
        if self.object_list.model is Run and order and order[0] == "-created_at":
            return newest_page(self.object_list, offset=offset, limit=limit)
        return list(self.object_list[offset : offset + limit])


class LookaheadPaginated:
    """ModelAdmin mixin: LookaheadPaginator for the page the request asks for, no "show all"
    (it would read every row), no full count, no facet counts."""

    paginator = LookaheadPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts are COUNT(*)s over the whole table
    list_max_show_all = 0

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        try:
            number = int(request.GET.get(PAGE_VAR, 1))
        except ValueError:
            number = 1
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, number=number)


class FailedRecentlyFilter(admin.SimpleListFilter):
    title = "failed recently"
    parameter_name = "failed_within"

    def lookups(self, request, model_admin):
        return [("24h", "Failed in the last 24 h"), ("7d", "Failed in the last 7 days")]

    def queryset(self, request, queryset):
        spans = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
        if self.value() not in spans:
            return queryset
        since = timezone.now() - spans[self.value()]
        return queryset.filter(
            status__in=[RunStatus.FAILURE, RunStatus.TIMEOUT], finished_at__gte=since
        )


class JobFilter(admin.SimpleListFilter):
    """Only the jobs the viewer may see (a RelatedFieldListFilter would list every job)."""

    title = "job"
    parameter_name = "job"

    def lookups(self, request, model_admin):
        jobs = Job.objects.visible_to(request.user).order_by("name").values_list("id", "name")
        return [(str(pk), name) for pk, name in jobs[:200]]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(job_id=self.value())


@admin.register(Run)
class RunAdmin(LookaheadPaginated, RoleScopedAdmin):
    change_form_template = "admin/runs/run/change_form.html"
    list_display = [
        "short_id",
        "job_link",
        "status_link",
        "trigger",
        "created",
        "started",
        "duration",
        "exit_code",
    ]
    list_display_links = ["short_id"]
    list_filter = [FailedRecentlyFilter, "status", "trigger_type", JobFilter]
    list_select_related = ["job"]
    search_fields = ["=id", "job__name"]
    list_per_page = 50
    actions = ["cancel_runs", "rerun_runs"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "job_link",
                    "status_badge",
                    "trigger_type",
                    "triggered_by",
                    "attempt",
                    "parent",
                    "priority",
                    "error_message",
                ]
            },
        ),
        ("Timing", {"fields": ["created", "scheduled", "started", "finished", "duration"]}),
        ("Process", {"fields": ["exit_code", "worker", "pid", "heartbeat", "log_summary"]}),
        ("Resources", {"fields": ["cpu_text", "memory_text"]}),
        ("What ran", {"fields": ["spec_text"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "job_link",
        "status_badge",
        "trigger_type",
        "triggered_by",
        "attempt",
        "parent",
        "priority",
        "error_message",
        "created",
        "scheduled",
        "started",
        "finished",
        "duration",
        "exit_code",
        "worker",
        "pid",
        "heartbeat",
        "log_summary",
        "cpu_text",
        "memory_text",
        "spec_text",
    ]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Runs", **(extra_context or {})})

    def get_search_results(self, request, queryset, search_term):
        # "=id" on a UUID column breaks on non-UUID text; search names only then
        try:
            uuid.UUID(search_term.strip())
        except ValueError:
            if not search_term.strip():
                return queryset, False
            return queryset.filter(job__name__icontains=search_term.strip()), False
        return queryset.filter(id=search_term.strip()), False

    def has_change_permission(self, request, obj=None):
        return False  # machine-written rows: nobody edits them by hand

    def has_add_permission(self, request):
        return False  # runs come from run_enqueue (actions, the API, the tick)

    # ---- columns ----

    def action_checkbox(self, run):
        # Django renders this through the form widget templates: ~1 ms a row, the largest
        # cost of a 50-row page. Same markup, formatted directly.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            run.pk,
            format_html(_("Select this object for an action - {}"), str(run)),
        )

    @admin.display(description="Run")
    def short_id(self, run):
        return str(run.id)[:8]

    @admin.display(description="Job", ordering="job__name")
    def job_link(self, run):
        if run.job is None:
            return "(ad-hoc task)"
        url = reverse("admin:jobs_job_overview", args=[run.job_id])
        return format_html('<a href="{}">{}</a>', url, run.job.name)

    @admin.display(description="Trigger", ordering="trigger_type")
    def trigger(self, run):
        """The trigger; a follow-up's links to the run that started it (the id is on the row)."""
        if run.chained_from_id is None:
            return run.get_trigger_type_display()
        return format_html(
            '{} <a href="{}" class="tf-nowrap" title="Started by this run">← {}</a>',
            run.get_trigger_type_display(),
            reverse("admin:runs_run_change", args=[run.chained_from_id]),
            str(run.chained_from_id)[:8],
        )

    @admin.display(description="Status", ordering="status")
    def status_badge(self, run):
        return status_badge(run.status, run.get_status_display())

    @admin.display(description="Status", ordering="status")
    def status_link(self, run):
        """The status, linking to the run (on a phone the only link left to it)."""
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:runs_run_change", args=[run.pk]),
            status_badge(run.status, run.get_status_display()),
        )

    @admin.display(description="Created", ordering="created_at")
    def created(self, run):
        return time_tag(run.created_at)

    @admin.display(description="Scheduled for")
    def scheduled(self, run):
        return time_tag(run.scheduled_for)

    @admin.display(description="Started", ordering="started_at")
    def started(self, run):
        return time_tag(run.started_at)

    @admin.display(description="Finished")
    def finished(self, run):
        return time_tag(run.finished_at)

    @admin.display(description="Heartbeat")
    def heartbeat(self, run):
        return time_tag(run.heartbeat_at)

    @admin.display(description="Duration", ordering="duration_ms")
    def duration(self, run):
        return duration_text(run.duration_ms)

    @admin.display(description="Log")
    def log_summary(self, run):
        text = f"{run.log_lines} lines, {bytes_text(run.log_bytes)}"
        if run.log_dropped_bytes:
            text += f" ({bytes_text(run.log_dropped_bytes)} dropped by the size cap)"
        return text

    @admin.display(description="CPU (avg / max)")
    def cpu_text(self, run):
        if run.cpu_percent_avg is None:
            return "—"
        return f"{run.cpu_percent_avg:.1f} % / {run.cpu_percent_max or 0:.1f} %"

    @admin.display(description="Memory (avg / max)")
    def memory_text(self, run):
        return f"{bytes_text(run.memory_bytes_avg)} / {bytes_text(run.memory_bytes_max)}"

    @admin.display(description="Spec")
    def spec_text(self, run):
        spec = dict(run.spec or {})
        if spec.get("secret_env"):
            spec["secret_env"] = dict.fromkeys(spec["secret_env"], "********")
        return format_html('<pre class="tf-mono">{}</pre>', json.dumps(spec, indent=2))

    # ---- actions ----

    @admin.action(description="Cancel selected runs", permissions=["run"])
    def cancel_runs(self, request, queryset):
        done = []
        for run in queryset.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]):
            run_cancel(run=run, by=request.user)
            done.append(str(run.id)[:8])
        if done:
            self.message_user(
                request,
                f"Cancel requested for {len(done)} run(s): {', '.join(done)}.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request, "None of the selected runs was pending or running.", messages.WARNING
            )

    @admin.action(description="Re-run the jobs of selected runs", permissions=["run"])
    def rerun_runs(self, request, queryset):
        for run in queryset.filter(job__isnull=False).select_related("job"):
            if self._throttled(request):
                return
            new_run, _ = run_rerun(run=run, by=request.user)
            url = reverse("admin:runs_run_change", args=[new_run.id])
            self.message_user(
                request,
                format_html(
                    '{}: re-run <a href="{}">{}</a> ({}).',
                    run.job.name,
                    url,
                    str(new_run.id)[:8],
                    new_run.get_status_display(),
                ),
                messages.SUCCESS,
            )

    # ---- cancel and re-run buttons ----
    # Form posts, not API calls: they work without JavaScript and end on a page with the
    # admin's message (the new run's page for a re-run), like the actions above.

    def get_urls(self):
        wrap = self.admin_site.admin_view
        extra = [
            path("<path:object_id>/cancel/", wrap(self.cancel_view), name="runs_run_cancel"),
            path("<path:object_id>/rerun/", wrap(self.rerun_view), name="runs_run_rerun"),
        ]
        return extra + super().get_urls()

    def _throttled(self, request) -> bool:
        """Over the per-user run limit of the API's re-run (a message says so)?"""
        wait = door_wait(RunThrottle, request)
        if wait is not None:
            self.message_user(
                request, f"Too many runs started: try again in {wait} s.", messages.ERROR
            )
        return wait is not None

    def cancel_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = self.get_object(request, object_id)
        run = run_cancel(run=run, by=request.user)
        self.message_user(
            request,
            f"Cancel requested for run {str(run.id)[:8]} (now {run.get_status_display().lower()}).",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:runs_run_change", args=[run.id]))

    def rerun_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = self.get_object(request, object_id)
        if run.job_id is None:
            self.message_user(request, "Ad-hoc tasks cannot be re-run.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:runs_run_change", args=[run.id]))
        if self._throttled(request):
            return HttpResponseRedirect(reverse("admin:runs_run_change", args=[run.id]))
        new_run, _ = run_rerun(run=run, by=request.user)
        self.message_user(request, f"Re-run queued as {str(new_run.id)[:8]}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:runs_run_change", args=[new_run.id]))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["viewer"] = {
                "run": RunDetailOutput(obj).data,
                "wsPath": f"/api/runs/{obj.id}/logs/live",
                "runUrl": reverse("run-detail", args=[obj.id]),
                "logsUrl": reverse("run-logs", args=[obj.id]),
                "metricsUrl": reverse("run-metrics", args=[obj.id]),
                "downloadUrl": reverse("run-logs-download", args=[obj.id]),
                "canRun": self.has_run_permission(request, obj),
            }
            job_name = obj.job.name if obj.job_id else "ad-hoc task"
            context["subtitle"] = f"{job_name} · run {str(obj.id)[:8]}"
            context["job_url"] = (
                reverse("admin:jobs_job_overview", args=[obj.job_id]) if obj.job_id else None
            )
            context["cancel_url"] = reverse("admin:runs_run_cancel", args=[obj.id])
            context["rerun_url"] = reverse("admin:runs_run_rerun", args=[obj.id])
            context.update(run_chain_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(RoleScopedAdmin):
    admin_only = True
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request):
        return False

    list_display = ["name", "role", "hostname", "pid", "started", "beat", "busy_run"]
    list_filter = ["role"]

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # visible_to does not exist on heartbeats; admin_only already hides them from users
        queryset = admin.ModelAdmin.get_queryset(self, request)
        return queryset if self.is_admin(request) else queryset.none()

    @admin.display(description="Started", ordering="started_at")
    def started(self, beat):
        return time_tag(beat.started_at)

    @admin.display(description="Heartbeat", ordering="heartbeat_at")
    def beat(self, beat):
        return time_tag(beat.heartbeat_at)
