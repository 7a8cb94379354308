"""The run page's parameters and chain: the run's values (secret ones masked, as the API shows
them), the run that started it (a follow-up's parent) and the runs it started. Rendered inside
the page's form, so the viewer's re-read when the run ends (static/taskflow/logviewer.js,
refreshDetails) brings the follow-ups it queued. Runs outside the viewer's are not named."""

from __future__ import annotations

from django.urls import reverse

from jobs.params import param_text, params_masked
from runs.models import Run, RunStatus

CHAINED_SHOWN = 50


def _run_row(run: Run) -> dict:
    return {
        "url": reverse("admin:runs_run_change", args=[run.pk]),
        "short": str(run.pk)[:8],
        "job": run.job.name if run.job_id else "ad-hoc task",
        "job_url": reverse("admin:jobs_job_overview", args=[run.job_id]) if run.job_id else None,
        "status": run.status,
        "status_label": RunStatus(run.status).label,
    }


def run_chain_context(request, run: Run) -> dict:
    visible = Run.objects.visible_to(request.user).select_related("job")
    parent = None
    if run.chained_from_id is not None:
        found = visible.filter(pk=run.chained_from_id).first()
        parent = _run_row(found) if found else {"hidden": True}
    started = visible.filter(chained_from=run).order_by("created_at")[:CHAINED_SHOWN]
    waiting = not run.is_finished and run.job_id is not None and run.job.followup_links.exists()
    return {
        "run_params": [
            (name, param_text(value)) for name, value in params_masked(run.params).items()
        ],
        "chained_from": parent,
        "chained_runs": [_run_row(child) for child in started],
        "followups_waiting": waiting,
    }
