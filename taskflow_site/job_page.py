"""The job page a job link opens (/admin/jobs/job/<id>/): what the job is doing and did,
editing one click away. It lives here, not beside the job admin in runs.admin, because it shows
what metrics computes (docs/architecture.md, "Layers"); the job admin still decides who sees it.

Its parameters and chain links (what it starts on which outcome, which jobs start it) are
read here; Run now of a job with parameters opens the run form in a dialog
(templates/taskflow/run_form.html, static/taskflow/runform.js).

The first paint embeds what the page's script then reads from the API (GET /api/jobs/<id>,
/api/jobs/<id>/activity, /api/runs?job=<id>) and refreshes on /ws/dashboard pushes
(docs/architecture.md, record 10). The change history comes from the audit trail
(accounts.audit), or, for a job changed only before it existed, from the admin's own log.
"""

from __future__ import annotations

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.models import AuditEntry
from jobs.models import Job, JobFollowup
from jobs.param_forms import RunParamsForm, run_form_context
from jobs.services import job_schedule
from metrics.activity import job_activity
from runs.models import Run, RunStatus, TriggerType
from runs.serializers import RunOutput

HISTORY_PAGE = 20  # rows of the run history table per page
TOTAL_CAP = 10_000  # as GET /api/runs counts
CHANGES_SHOWN = 30
ON_WORDS = {"success": "On success", "failure": "On failure or timeout", "always": "Always"}


def _changes(changes: dict) -> list[tuple[str, str]]:
    """An entry's diff as (field, "old → new") lines; a secret's is just "changed"."""
    lines = []
    for field, change in (changes or {}).items():
        if isinstance(change, dict):
            old, new = change.get("from"), change.get("to")
            lines.append((field, f"{'—' if old is None else old} → {'—' if new is None else new}"))
        else:
            lines.append((field, str(change)))
    return lines


def change_history(request, job: Job) -> list[dict]:
    """Who changed what on the job, newest first: audit entries the viewer may read."""
    entries = (
        AuditEntry.objects.visible_to(request.user)
        .filter(object_type="job", object_id=str(job.pk))
        .select_related("token")
        .order_by("-at", "-id")[:CHANGES_SHOWN]
    )
    rows = [
        {
            "at": entry.at,
            "who": entry.actor_name + (f" (token {entry.token.name})" if entry.token else ""),
            "action": entry.get_action_display(),
            "through": entry.get_surface_display(),
            "changes": _changes(entry.changes),
        }
        for entry in entries
    ]
    if rows:
        return rows
    logged = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Job), object_id=str(job.pk)
    ).select_related("user")[:CHANGES_SHOWN]
    return [
        {
            "at": entry.action_time,
            "who": entry.user.get_username() if entry.user else "—",
            "action": ("Create", "Update", "Delete")[entry.action_flag - 1],
            "through": "Admin",
            "changes": [("", entry.get_change_message() or "—")],
        }
        for entry in logged
    ]


def chain_links(request, job: Job) -> dict:
    """The job's follow-ups and the links that start it, as the viewer may see them: a job
    outside the viewer's jobs is named as such, never by its name."""
    visible = Job.objects.visible_to(request.user)
    seen = set(visible.filter(chained_from_links__job=job).values_list("pk", flat=True))
    out = [
        {
            "on": ON_WORDS.get(link.on, link.on),
            "job": link.target if link.target_id in seen else None,
            "params": link.params,
        }
        for link in job.followup_links.select_related("target").order_by("position", "pk")
    ]
    into = JobFollowup.objects.filter(target=job, job__in=visible).select_related("job")
    return {
        "followups": out,
        "chained_into": [{"on": ON_WORDS.get(link.on, link.on), "job": link.job} for link in into],
    }


def job_page(model_admin, request, object_id) -> TemplateResponse:
    job = model_admin.get_object(request, str(object_id))  # 404 outside the viewer's jobs
    runs = Run.objects.filter(job=job)
    rows = runs.select_related("job", "triggered_by").order_by("-created_at")[:HISTORY_PAGE]
    total = runs.order_by().values("created_at")[: TOTAL_CAP + 1].count()
    page = {
        "jobId": str(job.pk),
        "activity": job_activity(job=job),
        # what GET /api/runs?job=<id>&limit=20 answers
        "runs": {
            "runs": RunOutput(rows, many=True).data,
            "total": min(total, TOTAL_CAP),
            "totalExact": total <= TOTAL_CAP,
            "limit": HISTORY_PAGE,
            "offset": 0,
        },
        "pageSize": HISTORY_PAGE,
        "urls": {
            "activity": reverse("job-activity", args=[job.pk]),
            "runs": reverse("run-list") + f"?job={job.pk}",
            "run": reverse("job-run", args=[job.pk]),
            "enable": reverse("job-enable", args=[job.pk]),
            "disable": reverse("job-disable", args=[job.pk]),
            # the script puts a run's id in place of __id__
            "runPage": reverse("admin:runs_run_change", args=["__id__"]),
        },
        "triggerLabels": dict(TriggerType.choices),
    }
    schedule = job_schedule(job)
    can_run = model_admin.has_run_permission(request, job)
    run_form = {}
    if job.params and can_run:
        run_form = run_form_context(job, RunParamsForm(job.params), after="dialog")
    context = {
        **run_form,
        **chain_links(request, job),
        **model_admin.admin_site.each_context(request),
        "title": job.name,
        "subtitle": None,
        "opts": model_admin.model._meta,
        "original": job,
        "job": job,
        "page": page,
        "schedule_words": model_admin.schedule_in_words(job),
        "manual_only": schedule is None,
        "changes": change_history(request, job),
        "can_change": model_admin.has_change_permission(request, job),
        "can_run": can_run,
        "edit_url": reverse("admin:jobs_job_change", args=[job.pk]),
        "history_url": reverse("admin:jobs_job_history", args=[job.pk]),
        "runs_url": reverse("admin:runs_run_changelist") + f"?job={job.pk}",
        "metrics_url": reverse("admin:metrics") + f"?job={job.pk}",
        "run_url": reverse("admin:jobs_job_run", args=[job.pk]),
        "statuses": RunStatus.choices,
        "triggers": TriggerType.choices,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/jobs/job/overview.html", context)
