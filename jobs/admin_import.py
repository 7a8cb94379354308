"""The admin's "Import crontab" page (admins only): paste a crontab, see the dry run — each job,
its next 3 runs, the reported lines — then import it (jobs.crontab_import, as the API and
`taskflow import-crontab` do). Hooked into the job admin by jobs.admin.JobAdmin.get_urls."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from accounts.models import User
from jobs.crontab import FORMATS
from jobs.crontab_import import TEXT_MAX, CrontabRefused, crontab_import

FORMAT_LABELS = {
    "auto": "Guess (a user field when every entry has one)",
    "user": "A user's crontab (crontab -l)",
    "system": "/etc/crontab style (a user field after the schedule)",
}


class CrontabImportForm(forms.Form):
    crontab = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 18, "cols": 100, "spellcheck": "false"}),
        strip=False,
        max_length=TEXT_MAX,
        help_text="Paste the output of crontab -l or a file such as /etc/crontab.",
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        to_field_name="username",
        help_text="Who owns the imported jobs.",
    )
    format = forms.ChoiceField(choices=[(name, FORMAT_LABELS[name]) for name in FORMATS])


def crontab_import_view(model_admin, request):
    """GET: the form. POST "preview": the dry run. POST "import": the jobs made, and what was
    already there."""
    if not getattr(request.user, "is_admin", False):
        raise PermissionDenied
    result = None
    if request.method == "POST":
        form = CrontabImportForm(request.POST)
        if form.is_valid():
            saving = "import" in request.POST
            try:
                result = crontab_import(
                    text=form.cleaned_data["crontab"],
                    owner=form.cleaned_data["owner"],
                    dry_run=not saving,
                    format=form.cleaned_data["format"],
                )
            except CrontabRefused as exc:
                form.add_error("crontab", str(exc))
            if result is not None and saving:
                model_admin.message_user(
                    request,
                    f"Imported: {result['created']} new job(s), "
                    f"{result['existing']} already there.",
                    messages.SUCCESS,
                )
    else:
        form = CrontabImportForm(initial={"owner": request.user.get_username(), "format": "auto"})
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Import a crontab",
        "form": form,
        "result": result,
        "new_jobs": sum(1 for job in (result or {}).get("jobs", []) if job["status"] == "new"),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/jobs/job/import_crontab.html", context)
