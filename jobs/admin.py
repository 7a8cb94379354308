"""The job editor and job list: every save and action goes through jobs.services.

Users edit and run only their own jobs (the queryset), never create jobs or change owners.
"""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.db import models
from django.db.models import Q
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.admin_governance import AuditHistoryMixin
from jobs.admin_import import crontab_import_view
from jobs.forms import MONTH_NAMES, TEXT_FIELDS, WEEKDAY_NAMES, JobForm
from jobs.models import Job, JobKind
from jobs.services import (
    ADMIN_ONLY_FIELDS,
    WHAT_RUNS_FIELDS,
    job_delete,
    job_set_enabled,
    jobs_run_apart,
)
from jobs.webhook_secrets import job_webhook_secret_rotate
from taskflow_site.lib.admin import (
    RoleScopedAdmin,
    time_tag,
)

LOCKED_WHY = (
    "Only admins may change what this job runs (kind, script, command, request, directory, "
    "variables, parameters): jobs run as the server's own user, because no separate job user is "
    "configured (TASKFLOW_JOB_USER)."
)


def locked_fields(request) -> list[str]:
    """The editor's fields this viewer sees read-only (jobs.services.job_fields_refused)."""
    if getattr(request.user, "is_admin", False):
        return []
    guarded = ADMIN_ONLY_FIELDS if jobs_run_apart() else WHAT_RUNS_FIELDS
    names = {name: name for name in guarded if hasattr(Job, name)}
    names.update({name: TEXT_FIELDS[name][0] for name in guarded if name in TEXT_FIELDS})
    return list(names.values())


def schedule_summary(job: Job) -> str:
    schedule = getattr(job, "schedule", None)
    if schedule is None:
        return "no schedule"
    if schedule.cron_expr:
        return f"cron {schedule.cron_expr}"
    parts = []
    labels = {
        "minutes": ("min", None),
        "hours": ("h", None),
        "days": ("day", None),
        "weekdays": ("", WEEKDAY_NAMES),
        "months": ("", MONTH_NAMES),
        "years": ("", None),
    }
    for key, (label, names) in labels.items():
        values = getattr(schedule, key) or []
        if values:
            shown = [
                names[v - 1 if names is MONTH_NAMES else v] if names else str(v) for v in values[:8]
            ]
            more = "…" if len(values) > 8 else ""
            parts.append(f"{label} {','.join(shown)}{more}".strip())
    return " · ".join(parts) if parts else "every minute"


class JobAdmin(AuditHistoryMixin, RoleScopedAdmin):
    """The job list and editor; runs.admin registers it with the run-aware parts (latest run,
    Run now), which jobs cannot know about (docs/architecture.md, "Layers"). Its History page
    is the job's audit trail: the job's changes and its runs' triggers and cancels."""

    form = JobForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    user_can_change = True
    change_form_template = "admin/jobs/job/change_form.html"
    list_display = ["name", "kind", "enabled", "schedule_text", "next_run", "last_run", "owner"]
    list_filter = ["enabled", "kind"]
    search_fields = ["name", "description"]
    list_select_related = ["created_by", "schedule"]
    list_per_page = 50
    actions = ["enable_jobs", "disable_jobs", "rotate_webhook_secrets"]
    readonly_fields = ["next_run", "last_run", "owner"]

    def audit_history_filter(self, obj):
        return Q(job_id=obj.pk)

    def get_urls(self):
        # before the default `<object_id>/` routes, which would read "import" as an id
        view = self.admin_site.admin_view(partial(crontab_import_view, self))
        return [path("import/", view, name="jobs_job_import"), *super().get_urls()]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, *locked_fields(request)]

    def get_fieldsets(self, request, obj=None):
        owner = ["created_by"] if self.is_admin(request) else ["owner"]
        first = {"fields": ["name", "description", "kind", "enabled", *owner]}
        if not self.is_admin(request) and not jobs_run_apart():
            first["description"] = LOCKED_WHY
        return [
            (None, first),
            ("Shell script", {"fields": ["script", "shell"], "classes": ["tf-kind-shell"]}),
            ("Command", {"fields": ["command_text"], "classes": ["tf-kind-command"]}),
            (
                "HTTP request",
                {
                    "fields": ["http_method", "http_url", "headers_text", "http_body"],
                    "classes": ["tf-kind-http"],
                },
            ),
            (
                "Execution",
                {
                    "fields": [
                        "working_dir",
                        "run_as",
                        "timeout_seconds",
                        "priority",
                        "env_text",
                        "secret_env_text",
                    ]
                },
            ),
            ("Run parameters", {"fields": ["params_table"], "classes": ["tf-rows-fieldset"]}),
            (
                "Limits",
                {
                    "fields": [
                        "max_memory_mb",
                        "max_cpu_percent",
                        "max_cpu_sustain_seconds",
                        "max_processes",
                    ],
                    "description": "What a run's processes may use (admins set these); a run "
                    "over a limit is stopped and fails, naming it. Empty = no limit.",
                },
            ),
            (
                "Schedule",
                {"fields": ["has_schedule", "timezone", "cron_expr", "next_run", "last_run"]},
            ),
            (
                "Retries",
                {
                    "fields": [
                        "retry_count",
                        "retry_delay_seconds",
                        "retry_backoff",
                        "retry_backoff_max_seconds",
                        "exit_codes_text",
                    ]
                },
            ),
            (
                "Overlap and missed runs",
                {
                    "fields": [
                        "overlap_policy",
                        "max_queued",
                        "catchup_policy",
                        "catchup_window_seconds",
                    ]
                },
            ),
            (
                "Notifications",
                {
                    "fields": [
                        "notify_emails",
                        "notify_on",
                        "notify_on_change_only",
                        "notify_daily_cap",
                        "webhooks_text",
                    ]
                },
            ),
            ("Follow-up jobs", {"fields": ["followups"], "classes": ["tf-rows-fieldset"]}),
        ]

    def get_changeform_initial_data(self, request):
        return {**super().get_changeform_initial_data(request), "created_by": request.user.pk}

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.request = request  # a fresh class per request (modelform_factory)
        form.locked = frozenset(locked_fields(request))
        owner = form.base_fields.get("created_by")
        if owner is not None:  # pick an owner here; manage users on their own page
            for flag in ("can_add_related", "can_change_related", "can_delete_related"):
                setattr(owner.widget, flag, False)
        return form

    def save_model(self, request, obj, form, change):
        # JobForm already saved through job_create / job_update; nothing to write here
        pass

    def save_related(self, request, form, formsets, change):
        pass

    def delete_model(self, request, obj):

        job_delete(job=obj)  # cancels active runs first, so their processes stop

    def delete_queryset(self, request, queryset):

        for job in queryset:
            job_delete(job=job)

    # ---- what a viewer sees read-only (locked_fields) ----

    @admin.display(description="Command (argv)")
    def command_text(self, job):
        return format_html('<pre class="tf-mono">{}</pre>', "\n".join(job.command or []))

    @admin.display(description="Headers")
    def headers_text(self, job):
        lines = (f"{name}: {value}" for name, value in (job.http_headers or {}).items())
        return format_html('<pre class="tf-mono">{}</pre>', "\n".join(lines))

    @admin.display(description="Environment variables")
    def env_text(self, job):
        lines = (f"{name}={value}" for name, value in (job.env_vars or {}).items())
        return format_html('<pre class="tf-mono">{}</pre>', "\n".join(lines))

    @admin.display(description="Secret environment variables")
    def secret_env_text(self, job):
        names = ((name,) for name in job.secret_env_vars or {})
        return format_html_join(", ", "{}=***", names) or "—"

    @admin.display(description="Parameters")
    def params_table(self, job):
        return mark_safe(render_to_string("taskflow/params_list.html", {"params": job.params}))  # noqa: S308 (escaped by the template)

    # ---- columns ----

    @admin.display(description="Schedule")
    def schedule_text(self, job):
        return format_html(
            "{} <span class='tf-zone'>({})</span>", schedule_summary(job), job.timezone
        )

    @admin.display(description="Next run", ordering="next_run_at")
    def next_run(self, job):
        return time_tag(job.next_run_at)

    @admin.display(description="Last run")
    def last_run(self, job):
        return time_tag(job.last_run_at)

    @admin.display(description="Owner", ordering="created_by__username")
    def owner(self, job):
        return job.created_by.username if job.created_by else "—"

    def get_list_display(self, request):
        if self.is_admin(request):
            return self.list_display
        return [name for name in self.list_display if name != "owner"]

    def get_list_filter(self, request):
        return [*self.list_filter, "created_by"] if self.is_admin(request) else self.list_filter

    # ---- actions (each calls a service and says what happened) ----

    @admin.action(description="Enable selected jobs", permissions=["change"])
    def enable_jobs(self, request, queryset):
        self._set_enabled(request, queryset, enabled=True)

    @admin.action(description="Disable selected jobs", permissions=["change"])
    def disable_jobs(self, request, queryset):
        self._set_enabled(request, queryset, enabled=False)

    def _set_enabled(self, request, queryset, *, enabled: bool):

        names = []
        for job in queryset:
            job_set_enabled(job=job, enabled=enabled)
            names.append(job.name)
        state = "enabled" if enabled else "disabled"
        self.message_user(
            request, f"{len(names)} job(s) {state}: {', '.join(names)}.", messages.SUCCESS
        )

    @admin.action(description="New webhook signing secrets (shown once)", permissions=["change"])
    def rotate_webhook_secrets(self, request, queryset):
        secrets = [(job, job_webhook_secret_rotate(job=job)) for job in queryset]
        context = {
            **self.admin_site.each_context(request),
            "title": "Webhook signing secrets",
            "opts": self.model._meta,
            "secrets": secrets,
        }
        # rendered, never stored: not a message (the cookie would carry the secrets)
        return TemplateResponse(request, "admin/jobs/job/webhook_secrets.html", context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        context.update(
            schedule_errors=getattr(form, "schedule_errors", {}),
            metrics_url=(reverse("admin:metrics") + f"?job={obj.pk}") if obj else None,
            kinds=JobKind,
        )
        return super().render_change_form(request, context, add, change, form_url, obj)
