"""The job editor's form: the six schedule grids, the cron field, the text fields that stand
for lists and maps, and the tables of run parameters and follow-up jobs (jobs.param_forms).
Every save goes through jobs.services (validation lives there)."""

from __future__ import annotations

import copy
import json
import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from jobs.followups import job_followups
from jobs.models import Job
from jobs.param_forms import FollowupsField, ParamsField, RowsField
from jobs.schedule import ScheduleError, schedule_validate
from jobs.secrets import job_secret_values
from jobs.services import (
    EDITABLE_FIELDS,
    job_create,
    job_errors,
    job_fields_refused,
    job_set_owner,
    job_update,
)
from jobs.timezones import timezone_list

SCHEDULE_FIELDS = ("years", "months", "days", "weekdays", "hours", "minutes")
WEEKDAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

MONO = {"class": "tf-mono", "spellcheck": "false", "autocomplete": "off"}
CHOOSE_A_SCHEDULE = (
    "Choose when it runs: click the grid, pick a preset (“Every minute” is one) or type a cron "
    "expression; or turn “Run on a schedule” off."
)
# job fields edited through a text area: field -> (form field, its value when empty)
TEXT_FIELDS = {
    "env_vars": ("env_text", dict),
    "secret_env_vars": ("secret_env_text", dict),
    "command": ("command_text", list),
    "http_headers": ("headers_text", dict),
    "webhook_urls": ("webhooks_text", list),
    "retry_exit_codes": ("exit_codes_text", list),
    "params": ("params_table", list),  # a table of rows (jobs.param_forms)
}


class TimezoneInput(forms.TextInput):
    """A text box with the server's zone list as a datalist: type to search, any browser."""

    def render(self, name, value, attrs=None, renderer=None):

        attrs = {**(attrs or {}), "list": "tf-timezones", "autocomplete": "off"}
        options = format_html_join("", '<option value="{}">', ((zone,) for zone in timezone_list()))
        box = super().render(name, value, attrs, renderer)
        return mark_safe(f'{box}<datalist id="tf-timezones">{options}</datalist>')  # noqa: S308


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _parse_env(text: str) -> dict[str, str]:
    """NAME=value lines (a bare NAME: None); jobs.services judges the names."""
    env: dict[str, str] = {}
    for line in _lines(text):
        if line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        env[name.strip()] = value if sep else None
    return env


def _run_as_field(current: str) -> forms.ChoiceField:
    allowed = list(settings.TASKFLOW["RUN_AS_USERS"])
    if current and current not in allowed:  # no longer allowed: shown, refused on save
        allowed.append(current)
    return forms.ChoiceField(
        required=False,
        label="Run as",
        choices=[("", "The job user (default)"), *((name, name) for name in allowed)],
        help_text="The OS user the job's process runs as, from the server's "
        "<code>TASKFLOW_RUN_AS_USERS</code>.",
    )


class JobForm(forms.ModelForm):
    """Edits a job; the grid's choices travel in one hidden JSON field filled by the page."""

    schedule = forms.CharField(widget=forms.HiddenInput, required=False)
    http_url = forms.URLField(required=False, max_length=2000, assume_scheme="https", label="URL")
    # a new job is manual-only until a schedule is chosen: an untouched grid never fires it
    has_schedule = forms.BooleanField(
        required=False,
        initial=False,
        label="Run on a schedule",
        help_text="Off (a new job's default): manual only, the job runs when started by hand "
        "or through the API. Choosing a schedule below turns it on.",
    )
    cron_expr = forms.CharField(
        required=False,
        max_length=200,
        label="Cron expression",
        help_text="Optional, 5 fields (e.g. <code>*/15 9-17 * * MON-FRI</code>); "
        "when set it replaces the grid.",
        widget=forms.TextInput(attrs={**MONO, "placeholder": "m h dom mon dow"}),
    )
    env_text = forms.CharField(
        required=False,
        label="Environment variables",
        help_text="One <code>NAME=value</code> per line.",
        widget=forms.Textarea(attrs={**MONO, "rows": 3}),
    )
    secret_env_text = forms.CharField(
        required=False,
        label="Secret environment variables",
        help_text="One <code>NAME=value</code> per line. Saved values are never shown again: a "
        "line with just <code>NAME</code> keeps the saved value; removing the line deletes it.",
        widget=forms.Textarea(attrs={**MONO, "rows": 3}),
    )
    command_text = forms.CharField(
        required=False,
        label="Command (argv)",
        help_text="One argument per line, the program first; no shell is involved.",
        widget=forms.Textarea(attrs={**MONO, "rows": 3}),
    )
    headers_text = forms.CharField(
        required=False,
        label="Headers",
        help_text="One <code>Name: value</code> per line.",
        widget=forms.Textarea(attrs={**MONO, "rows": 3}),
    )
    webhooks_text = forms.CharField(
        required=False,
        label="Webhook URLs",
        help_text="One URL per line; each receives the run's result as JSON.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    exit_codes_text = forms.CharField(
        required=False,
        label="Retry on exit codes",
        help_text="Comma-separated; empty = retry on any non-zero exit code.",
    )
    params_table = ParamsField(
        label="Parameters",
        help_text="Values a run takes: Run now asks for them, the API and the CLI pass them, "
        "scheduled runs use the defaults. The script reads each as the environment variable "
        "<code>TASKFLOW_PARAM_NAME</code>; an HTTP request uses <code>{{params.NAME}}</code>. "
        "Names are upper-case (A-Z, 0-9, _). A secret value is masked in logs and never shown.",
    )
    followups = FollowupsField(
        label="Follow-up jobs",
        help_text="Jobs to start when a run of this job ends (its last attempt): on success, on "
        "failure (a failure or a timeout) or always. A follow-up gets this run's parameter "
        "values plus the ones written here, and <code>TASKFLOW_PARENT_RUN_ID</code> / "
        "<code>TASKFLOW_PARENT_STATUS</code>. A chain that leads back here is refused.",
    )

    class Meta:
        model = Job
        fields = [*EDITABLE_FIELDS, "created_by"]  # narrowed again by JobAdmin's fieldsets
        widgets = {
            "script": forms.Textarea(attrs={**MONO, "rows": 12}),
            "http_body": forms.Textarea(attrs={**MONO, "rows": 4}),
            "description": forms.Textarea(attrs={"rows": 2}),
            "notify_emails": forms.TextInput(
                attrs={"size": 60, "placeholder": "ops@example.com, me@example.com"}
            ),
            "timezone": TimezoneInput,
        }

    request = None  # set by JobAdmin.get_form
    locked: frozenset[str] = frozenset()  # form fields shown read-only (JobAdmin.get_form)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.locked:  # not submitted, so never saved (not even as empty)
            self.fields.pop(name, None)
        if "run_as" in self.fields:
            self.fields["run_as"] = _run_as_field(self.instance.run_as)
        if "followups" in self.fields and self.request is not None:
            # only the jobs this user can see: another user's job is not even offered
            jobs = Job.objects.visible_to(self.request.user).exclude(pk=self.instance.pk)
            self.fields["followups"].job_choices = jobs.order_by("name").values_list("id", "name")
        self.schedule_errors: dict[str, list[str]] = {}
        self.saved_job: Job | None = None
        job = self.instance
        schedule = getattr(job, "schedule", None) if job.pk and not job._state.adding else None
        grid = {key: getattr(schedule, key, None) or [] for key in SCHEDULE_FIELDS}
        self.initial.setdefault("schedule", json.dumps(grid))
        if job.pk and not job._state.adding:
            self.initial.setdefault("has_schedule", schedule is not None)
        self.initial.setdefault("cron_expr", getattr(schedule, "cron_expr", "") or "")
        self.initial.setdefault(
            "env_text", "\n".join(f"{k}={v}" for k, v in (job.env_vars or {}).items())
        )
        # secret values stay on the server: only their names come back to the browser
        self.initial.setdefault("secret_env_text", "\n".join(job.secret_env_vars or {}))
        self.initial.setdefault("command_text", "\n".join(str(a) for a in job.command or []))
        self.initial.setdefault(
            "headers_text", "\n".join(f"{k}: {v}" for k, v in (job.http_headers or {}).items())
        )
        self.initial.setdefault("webhooks_text", "\n".join(job.webhook_urls or []))
        self.initial.setdefault(
            "exit_codes_text", ", ".join(str(c) for c in job.retry_exit_codes or [])
        )
        self.initial.setdefault("params_table", job.params or [])
        self.initial.setdefault("followups", [] if job._state.adding else job_followups(job))

    # ---- field cleaning: text areas back to the model's JSON shapes ----

    def clean_schedule(self) -> dict:
        raw = self.cleaned_data.get("schedule") or "{}"
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested 1,000 deep
            raise ValidationError("The schedule grid sent something unreadable.") from exc
        if not isinstance(data, dict):
            raise ValidationError("The schedule grid sent something unreadable.")
        grid = {}
        for key in SCHEDULE_FIELDS:
            values = data.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
                raise ValidationError(f"{key}: expected a list of numbers.")
            grid[key] = sorted(set(values)) or None
        return grid

    def clean_script(self) -> str:
        # browsers submit textarea newlines as CRLF; bash reads "do\r" as a syntax error
        return (self.cleaned_data.get("script") or "").replace("\r\n", "\n")

    def clean_http_body(self) -> str:
        return (self.cleaned_data.get("http_body") or "").replace("\r\n", "\n")

    def clean_env_text(self) -> dict:
        env = _parse_env(self.cleaned_data.get("env_text", ""))
        return {name: value or "" for name, value in env.items()}

    def clean_secret_env_text(self) -> dict:
        given = _parse_env(self.cleaned_data.get("secret_env_text", ""))
        saved = job_secret_values(self.instance)
        merged = {}
        for name, value in given.items():
            if value is None:
                if name not in saved:
                    raise ValidationError(f"{name} has no saved value yet: write {name}=value.")
                merged[name] = saved[name]
            else:
                merged[name] = value
        return merged

    def clean_command_text(self) -> list[str]:
        return [line for line in (self.cleaned_data.get("command_text") or "").splitlines() if line]

    def clean_headers_text(self) -> dict:
        headers = {}
        for line in _lines(self.cleaned_data.get("headers_text", "")):
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise ValidationError(f"{line!r}: expected 'Name: value'.")
            headers[name.strip()] = value.strip()
        return headers

    def clean_webhooks_text(self) -> list[str]:
        validator = forms.URLField(assume_scheme="https")
        return [validator.clean(url) for url in _lines(self.cleaned_data.get("webhooks_text", ""))]

    def clean_exit_codes_text(self) -> list[int]:
        text = self.cleaned_data.get("exit_codes_text") or ""
        try:
            return [int(part) for part in re.split(r"[,\s]+", text) if part]
        except ValueError as exc:
            raise ValidationError("Exit codes are whole numbers, e.g. 1, 75.") from exc

    def clean(self):
        data = super().clean()

        grid = data.get("schedule")
        zone = data.get("timezone")
        cron = (data.get("cron_expr") or "").strip()
        if data.get("has_schedule") and grid is not None and not any(grid.values()) and not cron:
            # "every minute" is a choice (its preset), never what an untouched grid means
            self._add_service_errors({"schedule": [CHOOSE_A_SCHEDULE]})
        elif grid is not None and zone and data.get("has_schedule"):
            try:
                schedule_validate({**grid, "cron_expr": data.get("cron_expr", "")}, zone)
            except ScheduleError as exc:
                self._add_service_errors(exc.errors)
        return data

    # ---- saving through the services, inside the admin's transaction ----

    def _post_clean(self):
        super()._post_clean()
        data = self.cleaned_data
        fields = {name: data[name] for name in EDITABLE_FIELDS if name in data}
        for name, (form_field, empty) in TEXT_FIELDS.items():
            if form_field not in self.fields:
                continue
            value = data.get(form_field)
            if value is None and isinstance(self.fields[form_field], RowsField):
                fields.pop(name, None)  # a table that was not on the page: left alone
                continue
            fields[name] = value or empty()
        links = {} if data.get("followups") is None else {"followups": data["followups"]}
        if self.errors:
            self._add_draft_errors(fields)  # every problem in this round, not the next
            return
        # The admin wraps the whole POST in one transaction; calling the service here (not in
        # save_model) lets its ValidationError land beside the fields instead of a 500.
        schedule = None
        if data.get("has_schedule"):
            schedule = {**data["schedule"], "cron_expr": (data.get("cron_expr") or "").strip()}
        user = self.request.user
        owner = data.get("created_by") if "created_by" in self.fields else None

        if not self.instance._state.adding:
            refused = job_fields_refused(user=user, job=self.instance, fields=fields)
            if refused:
                self.add_error(None, f"Only admins may change: {', '.join(refused)}.")
                return
        try:
            if self.instance._state.adding:
                job = job_create(created_by=owner or user, schedule=schedule, **links, **fields)
            else:
                with transaction.atomic():
                    job = job_update(job=self.instance, schedule=schedule, **links, **fields)
                    if owner is not None:
                        job = job_set_owner(job=job, owner=owner)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                self._add_service_errors(dict(exc.message_dict))
            else:
                self.add_error(None, exc)
        except ScheduleError as exc:
            self._add_service_errors(exc.errors)
        else:
            self.saved_job = self.instance = job

    def _add_draft_errors(self, fields: dict) -> None:
        """The job rules (jobs.services.job_errors) on what was entered, for the fields that
        have no error yet: a form with a blank name still says the path must be absolute."""
        draft = copy.copy(self.instance)
        for name, value in fields.items():
            setattr(draft, name, value)
        aliases = {name: form_field for name, (form_field, _) in TEXT_FIELDS.items()}
        found = job_errors(draft)
        self._add_service_errors(
            {key: msgs for key, msgs in found.items() if aliases.get(key, key) not in self.errors}
        )

    def _add_service_errors(self, errors: dict[str, list[str]]) -> None:
        aliases = {name: form_field for name, (form_field, _) in TEXT_FIELDS.items()}
        for key, msgs in errors.items():
            key = key.removeprefix("schedule.")  # job_create's keys for schedule fields
            if key in SCHEDULE_FIELDS or key == "schedule":
                self.schedule_errors.setdefault(key, []).extend(msgs)
                self.add_error("schedule", ValidationError(msgs))
                continue
            field = aliases.get(key, key)
            if isinstance(self.fields.get(field), RowsField):  # on the rows they are about
                msgs = self.fields[field].place_errors(list(msgs))
            if field == "__all__" or field not in self.fields:
                self.add_error(None, ValidationError([f"{key}: {m}" for m in msgs]))
            else:
                self.add_error(field, ValidationError(msgs))
