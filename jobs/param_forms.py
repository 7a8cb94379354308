"""The job editor's two tables, run parameters and follow-up jobs, and the Run now form of a job
with parameters.

Each table row is plain inputs (``params-0-name``, ``followups-2-job``...), so the editor works
without JavaScript (one blank row a save); static/taskflow/params.js adds rows and shows the
inputs a type needs. The fields only turn the rows back into the shapes jobs.services takes
(``Job.params`` and the ``followups`` list); whether they are right is judged there
(jobs/params.py), and its messages come back beside the table.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.urls import reverse

from jobs.models import FollowupOn
from jobs.params import FALSE_WORDS, PARAM_TYPES, TRUE_WORDS

TYPE_LABELS = {
    "string": "Text",
    "integer": "Whole number",
    "boolean": "Yes / no",
    "choice": "One of a list",
}
MAX_ROWS = 200  # rows read from one POST; the services cap what a job may hold
# where jobs.services' messages point: "#2: ..." (the 2nd item sent) or "NAME: ..."
NUMBERED = re.compile(r"#(\d+)(?: \([^)]*\))?:?\s*")
NAMED = re.compile(r"([A-Z][A-Z0-9_]*): ")


def _text(value) -> str:
    """A stored value as the editor shows it: booleans as yes/no, nothing as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def typed_default(kind: str, text: str):
    """What a default typed into the table means for its type ('' = no default). Text that
    does not fit the type is sent as typed, for jobs.services to name the problem."""
    text = text.strip()
    if not text:
        return None
    if kind == "integer" and re.fullmatch(r"[+-]?\d{1,19}", text):
        return int(text)
    if kind == "boolean" and text.lower() in TRUE_WORDS | FALSE_WORDS:
        return text.lower() in TRUE_WORDS
    return text


def parse_assignments(text: str) -> dict[str, str]:
    """``NAME=value`` per line -> {NAME: value} (the values as text: the target's types read
    them, as from the CLI)."""
    values: dict[str, str] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValidationError(f"“{line}”: write NAME=value, one per line.")
        values[name.strip()] = value.strip()
    return values


class RowsWidget(forms.Widget):
    """A table of rows, each a few inputs named ``<name>-<row>-<key>``; a hidden
    ``<name>-present`` says the table was on the page (without it the field is left alone).

    `row_errors` (row position -> messages) puts jobs.services' messages on their rows."""

    keys: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()  # checkbox keys (present = ticked)
    content: tuple[str, ...] = ()  # a row with none of these filled in is blank (skipped)
    template = ""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.row_errors: dict[int, list[str]] = {}

    def __deepcopy__(self, memo):
        widget = super().__deepcopy__(memo)  # each form its own (Widget copies only attrs)
        widget.row_errors = {}
        return widget

    def value_from_datadict(self, data, files, name):
        if f"{name}-present" not in data:
            return None
        pattern = re.compile(rf"^{re.escape(name)}-(\d+)-")
        indices = sorted({int(m.group(1)) for key in data if (m := pattern.match(key))})
        rows = []
        for index in indices[:MAX_ROWS]:
            prefix = f"{name}-{index}-"
            row = {
                key: (prefix + key in data) if key in self.checks else data.get(prefix + key, "")
                for key in self.keys
            }
            if any(str(row[key]).strip() for key in self.content):
                rows.append(row)
        return rows

    def value_omitted_from_data(self, data, files, name):
        return f"{name}-present" not in data

    def rows(self, value) -> list[dict]:
        """The rows to show: as posted (they carry "remove"), or made from the stored value."""
        return [item if "remove" in item else self.row(item) for item in value or []]

    def row(self, item: dict) -> dict:
        raise NotImplementedError

    def context(self, rows) -> dict:
        return {}

    def render(self, name, value, attrs=None, renderer=None):
        rows = self.rows(value)
        blank = dict.fromkeys(self.keys, "")
        shown = [*rows, blank]
        context = {
            "name": name,
            "rows": [(i, row, self.row_errors.get(i, [])) for i, row in enumerate(shown)],
            "next_index": len(shown),
            "blank": blank,
            **self.context(rows),
        }
        return render_to_string(self.template, context)


class ParamsWidget(RowsWidget):
    keys = ("name", "type", "default", "choices", "required", "secret", "help", "remove")
    checks = ("required", "secret", "remove")
    content = ("name", "default", "choices", "help")
    template = "taskflow/params_editor.html"

    def rows(self, value):
        # names are upper-case by rule: a posted row shows the name that would be saved
        return [{**row, "name": row["name"].strip().upper()} for row in super().rows(value)]

    def row(self, item):
        return {
            "name": item.get("name") or "",
            "type": item.get("type") or "string",
            "default": _text(item.get("default")),
            "choices": ", ".join(str(c) for c in item.get("choices") or []),
            "required": bool(item.get("required")),
            "secret": bool(item.get("secret")),
            "help": item.get("help") or "",
            "remove": False,
        }

    def context(self, rows):
        return {"types": [(kind, TYPE_LABELS.get(kind, kind)) for kind in PARAM_TYPES]}


class FollowupsWidget(RowsWidget):
    keys = ("on", "job", "params", "remove")
    checks = ("remove",)
    content = ("job", "params")
    template = "taskflow/followups_editor.html"

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.job_choices: list[tuple[str, str]] = []  # (id, name) the editor may pick

    def __deepcopy__(self, memo):
        widget = super().__deepcopy__(memo)
        widget.job_choices = list(self.job_choices)
        return widget

    def row(self, item):
        given = item.get("params") or {}
        return {
            "on": item.get("on") or FollowupOn.SUCCESS,
            "job": str(item.get("job") or ""),
            "params": "\n".join(f"{k}={_text(v)}" for k, v in given.items()),
            "remove": False,
        }

    def context(self, rows):
        known = {pk for pk, _ in self.job_choices}
        # a saved link to a job not in the list stays visible (and is refused on save)
        extra = {
            row["job"]: f"job {row['job'][:8]} (not one you can see)"
            for row in rows
            if row["job"] and row["job"] not in known
        }
        return {"outcomes": FollowupOn.choices, "jobs": [*self.job_choices, *extra.items()]}


class RowsField(forms.Field):
    """A table's rows -> the list jobs.services takes (None: the table was not on the page).
    `sent` remembers which row each item sent came from, to put messages back on it."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.sent: list[int] = []  # item position -> row position
        self.names: dict[int, str] = {}  # row position -> the name typed there

    def place_errors(self, messages: list[str]) -> list[str]:
        """Put each message that names an item sent ("#2: ...", "NAME: ...") on its row;
        the rest (and a pointer to the rows) are the field's own."""
        rest = []
        for message in messages:
            rows = []
            numbered = NUMBERED.match(message)
            named = NAMED.match(message)
            if numbered and 0 < int(numbered.group(1)) <= len(self.sent):
                rows = [self.sent[int(numbered.group(1)) - 1]]
            elif named:
                rows = [row for row, name in self.names.items() if name == named.group(1)]
            if numbered:  # the row shows which item it is
                message = message[numbered.end() :] or message
            for row in rows:
                self.widget.row_errors.setdefault(row, []).append(message)
            if not rows:
                rest.append(message)
        if self.widget.row_errors:
            rest.insert(0, "Please correct the rows marked below.")
        return rest


class ParamsField(RowsField):
    """The parameter table -> Job.params (a list of declarations)."""

    widget = ParamsWidget

    def to_python(self, value):
        if value is None:
            return None
        declared, self.sent, self.names = [], [], {}
        for position, row in enumerate(value):
            self.names[position] = row["name"].strip().upper()
            if row["remove"]:
                continue
            kind = row["type"] or "string"
            choices = [c.strip() for c in row["choices"].split(",") if c.strip()]
            self.sent.append(position)
            declared.append(
                {
                    "name": row["name"].strip().upper(),  # names are upper-case by rule
                    "type": kind,
                    "default": typed_default(kind, row["default"]),
                    "required": row["required"],
                    "choices": choices if kind == "choice" else [],
                    "secret": row["secret"],
                    "help": row["help"].strip(),
                }
            )
        return declared


class FollowupsField(RowsField):
    """The follow-up table -> the ``followups`` list; the job is picked from the jobs the
    editing user can see (`job_choices`), any other is refused here already."""

    widget = FollowupsWidget

    @property
    def job_choices(self) -> list[tuple[str, str]]:
        return self.widget.job_choices

    @job_choices.setter
    def job_choices(self, choices) -> None:
        self.widget.job_choices = [(str(pk), name) for pk, name in choices]

    def to_python(self, value):
        if value is None:
            return None
        allowed = {pk for pk, _ in self.job_choices}
        links, self.sent, self.names = [], [], {}
        for position, row in enumerate(value):
            if row["remove"]:
                continue
            problem = None
            if not row["job"]:
                problem = "Choose the job to start."
            elif row["job"] not in allowed:
                problem = "Choose a job from the list (you can chain only to jobs you can see)."
            else:
                try:
                    given = parse_assignments(row["params"])
                except ValidationError as exc:
                    problem = " ".join(exc.messages)
            if problem:
                self.widget.row_errors.setdefault(position, []).append(problem)
                continue
            self.sent.append(position)
            links.append(
                {"job": row["job"], "on": row["on"] or FollowupOn.SUCCESS, "params": given}
            )
        if self.widget.row_errors:
            raise ValidationError("Please correct the rows marked below.")
        return links


# ---- Run now for a job with parameters ----


def _run_field(param: dict) -> forms.Field:
    """The input for one declared parameter. Every field is optional here: run_enqueue
    (jobs.params.param_values_clean) judges the values and its messages are the ones shown;
    the browser gets `required` for a required parameter without a default."""
    kind, default = param.get("type") or "string", param.get("default")
    attrs = {"data-tf-param": param["name"], "data-tf-type": kind}
    if param.get("required") and default is None and kind != "boolean":
        attrs["required"] = True
    common = {"label": param["name"], "required": False, "help_text": param.get("help") or ""}
    if kind == "boolean":
        field = forms.BooleanField(
            initial=bool(default), widget=forms.CheckboxInput(attrs), **common
        )
    elif kind == "choice":
        options = [(str(c), str(c)) for c in param.get("choices") or []]
        if default is None:
            options.insert(0, ("", "— choose —"))
        field = forms.CharField(initial=default, widget=forms.Select(attrs, options), **common)
    elif param.get("secret"):  # never filled in, never sent back
        widget = forms.PasswordInput(attrs | {"autocomplete": "off"}, render_value=False)
        field = forms.CharField(widget=widget, strip=False, **common)
    elif kind == "integer":
        widget = forms.NumberInput(attrs | {"step": 1})
        field = forms.CharField(initial=default, widget=widget, **common)
    else:
        widget = forms.TextInput(attrs | {"size": 40})
        field = forms.CharField(initial=default, widget=widget, strip=False, **common)
    field.tf_type = "secret" if param.get("secret") else kind  # the row's class on the page
    return field


class RunParamsForm(forms.Form):
    """One input per declared parameter, typed (number, checkbox, list, password for a
    secret), defaults filled in. The values are checked by run_enqueue (jobs/params.py), whose
    messages land beside the inputs (ParamsInvalid.errors)."""

    def __init__(self, declared: list[dict], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.declared = declared
        for param in declared:
            self.fields[param["name"]] = _run_field(param)

    def values(self) -> dict:
        """What to run with: booleans always (unticked is a choice), other inputs when
        filled in (empty = the default)."""
        given = {}
        for param in self.declared:
            value = self.cleaned_data.get(param["name"])
            if param.get("type") == "boolean" or value not in (None, ""):
                given[param["name"]] = value
        return given

    def add_param_errors(self, errors: dict[str, str]) -> None:
        """ParamsInvalid.errors beside their inputs (an unknown name or "params": on top)."""
        for name, message in errors.items():
            if name in self.fields:
                self.add_error(name, message)
            else:
                self.add_error(None, message if name == "params" else f"{name}: {message}")


def run_form_context(job, form: RunParamsForm, after: str = "open") -> dict:
    """What templates/taskflow/run_form.html needs: the form, where it posts (the admin's Run
    now view without JavaScript, POST /api/jobs/<id>/run with it) and what follows a queued
    run ("open": its page; otherwise the page's own handler)."""
    return {
        "run_form": form,
        "run_form_url": reverse("admin:jobs_job_run", args=[job.pk]),
        "run_api_url": reverse("job-run", args=[job.pk]),
        "run_page_url": reverse("admin:runs_run_change", args=["__id__"]),
        "run_after": after,
    }
