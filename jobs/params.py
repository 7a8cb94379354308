"""Run parameters: what a job declares (Job.params) and the values a run takes.

A declaration is a list of {"name", "type", "default", "required", "choices", "secret",
"help"}; `params_declaration_errors` judges it (jobs.services.job_errors reports it under
"params") and `params_declaration_tidy` gives it its one stored form. A run's values are
cleaned against it by `param_values_clean` (defaults filled, types coerced, unknown names
refused), which raises ParamsInvalid with one message per parameter. Secret values are sealed
at rest (taskflow_site.lib.secretbox) as {"secret": token}: a stored value that is an object
is a sealed one, whatever the declaration says later.
"""

from __future__ import annotations

import re

from taskflow_site.lib.secretbox import secret_decrypt, secret_encrypt

PARAM_TYPES = ("string", "integer", "boolean", "choice")
PARAM_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
PARAM_KEYS = ("name", "type", "default", "required", "choices", "secret", "help")
NAME_MAX = 64
PARAMS_MAX = 50
CHOICES_MAX = 100
CHOICE_MAX = 200
HELP_MAX = 500
VALUE_MAX = 10_000
INTEGER_LIMIT = 2**63
TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}
MASK = "********"  # a secret value wherever a run's values are shown
PURPOSE = "run-param"
ENV_PREFIX = "TASKFLOW_PARAM_"
# {{params.NAME}} in an HTTP job's URL, headers and body
REFERENCE = re.compile(r"\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class ParamsInvalid(Exception):
    """Values that do not fit a declaration: `errors` maps a parameter name (or "params" for
    the whole) to one message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


# ---- declarations ----------------------------------------------------------------------------


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text_errors(value, limit: int = VALUE_MAX) -> str | None:
    if "\x00" in value:
        return "must not contain NUL"
    if len(value) > limit:
        return f"at most {limit} characters"
    return None


def _type_error(kind: str, value, choices) -> str | None:
    """Why `value` (already typed, as JSON carries it) is not a value of `kind`, or None."""
    if kind == "integer":
        if not _whole(value):
            return "must be a whole number"
        if not -INTEGER_LIMIT <= value < INTEGER_LIMIT:
            return "is out of range"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if not isinstance(value, str):
        return "must be text"
    if kind == "choice" and value not in (choices or []):
        return f"must be one of {', '.join(map(str, choices or []))}"
    return _text_errors(value)


def _one_declaration_errors(item: dict, label: str) -> list[str]:
    errors = []
    unknown = sorted(set(item) - set(PARAM_KEYS))
    if unknown:
        errors.append(f"{label}: unknown keys {', '.join(map(str, unknown))}.")
    kind = item.get("type", "string")
    if kind not in PARAM_TYPES:
        errors.append(f"{label}: type must be one of {', '.join(PARAM_TYPES)}.")
        return errors
    for key in ("required", "secret"):
        if not isinstance(item.get(key, False), bool):
            errors.append(f"{label}: {key} must be true or false.")
    help_text = item.get("help", "")
    if not isinstance(help_text, str) or len(help_text) > HELP_MAX:
        errors.append(f"{label}: help must be text of at most {HELP_MAX} characters.")
    choices = item.get("choices") or []
    if kind == "choice":
        if not isinstance(choices, list) or not choices:
            errors.append(f"{label}: a choice parameter needs a non-empty list of choices.")
            choices = []
        elif len(choices) > CHOICES_MAX or not all(
            isinstance(choice, str) and choice and not _text_errors(choice, CHOICE_MAX)
            for choice in choices
        ):
            errors.append(
                f"{label}: at most {CHOICES_MAX} choices, each non-empty text of at most "
                f"{CHOICE_MAX} characters."
            )
        elif len(set(choices)) != len(choices):
            errors.append(f"{label}: the choices must be different from each other.")
    elif choices:
        errors.append(f"{label}: only a choice parameter has choices.")
    secret = item.get("secret") is True
    if secret and kind != "string":
        errors.append(f"{label}: only a string parameter can be secret.")
    default = item.get("default")
    if default is not None:
        if secret:
            errors.append(
                f"{label}: a secret parameter has no default (it would be shown with the job); "
                "use a secret variable for a fixed secret."
            )
        elif problem := _type_error(kind, default, choices):
            errors.append(f"{label}: the default {problem}.")
    return errors


def params_declaration_errors(declared) -> list[str]:
    """Messages about a declaration (the job's "params" field); [] when it is valid."""
    if not isinstance(declared, list):
        return ["Must be a list of parameters."]
    if len(declared) > PARAMS_MAX:
        return [f"At most {PARAMS_MAX} parameters."]
    errors: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(declared, start=1):
        if not isinstance(item, dict):
            errors.append(f"#{index}: must be an object.")
            continue
        name = item.get("name")
        if not isinstance(name, str) or not PARAM_NAME.fullmatch(name) or len(name) > NAME_MAX:
            errors.append(
                f"#{index}: the name must be an upper-case identifier (A-Z, 0-9, _; starting "
                f"with a letter; at most {NAME_MAX} characters)."
            )
            label = f"#{index}"
        else:
            label = name
            if name in seen:
                errors.append(f"{name}: declared twice.")
            seen.add(name)
        errors.extend(_one_declaration_errors(item, label))
    return errors


def params_declaration_tidy(declared):
    """The one stored form: every key present, in PARAM_KEYS order (left alone when it is not a
    list of objects; params_declaration_errors reports that)."""
    if not isinstance(declared, list) or not all(isinstance(item, dict) for item in declared):
        return declared
    return [
        {
            "name": item.get("name"),
            "type": item.get("type", "string"),
            "default": item.get("default"),
            "required": item.get("required", False),
            "choices": item.get("choices") or [],
            "secret": item.get("secret", False),
            "help": item.get("help", ""),
            **{key: value for key, value in item.items() if key not in PARAM_KEYS},
        }
        for item in declared
    ]


def params_references_errors(declared, texts) -> list[str]:
    """{{params.NAME}} references (an HTTP job's URL, headers, body) to undeclared names."""
    names = {item.get("name") for item in declared or [] if isinstance(item, dict)}
    missing = sorted(
        {name for text in texts if isinstance(text, str) for name in REFERENCE.findall(text)}
        - names
    )
    return [f"{{{{params.{name}}}}} is used but {name} is not declared." for name in missing]


# ---- values ----------------------------------------------------------------------------------


def _coerce(kind: str, value):
    """A given value as the declared type: text from a form or the CLI ("8", "true") is read
    for integers and booleans; JSON values must already have the type."""
    if kind == "integer" and isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value):
        return int(value)
    if kind == "boolean" and isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return value


def param_values_clean(declared: list[dict], given: dict | None, *, complete: bool = True) -> dict:
    """The values of a run: `given` checked against `declared` (unknown names refused, types
    coerced), defaults filled in, required ones demanded. With complete=False (a chain link's
    fixed values) nothing is filled in or demanded. Raises ParamsInvalid."""
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise ParamsInvalid({"params": "Must be an object of NAME: value."})
    declared = [item for item in declared or [] if isinstance(item, dict)]
    by_name = {item.get("name"): item for item in declared}
    errors: dict[str, str] = {}
    for name in given:
        if name not in by_name:
            known = ", ".join(str(item.get("name")) for item in declared) or "none"
            errors[str(name)] = f"Unknown parameter (this job declares: {known})."
    values: dict = {}
    for item in declared:
        name, kind = item.get("name"), item.get("type", "string")
        value = given.get(name)
        if value is None:
            if not complete:
                continue
            value = item.get("default")
            if value is None:
                if item.get("required"):
                    errors[name] = "Required: this parameter has no default."
                continue
        value = _coerce(kind, value)
        problem = _type_error(kind, value, item.get("choices"))
        if problem:
            errors[name] = f"The value {problem}."
            continue
        values[name] = value
    if errors:
        raise ParamsInvalid(errors)
    return values


def param_secret_names(declared) -> set[str]:
    return {
        item.get("name")
        for item in declared or []
        if isinstance(item, dict) and item.get("secret") is True
    }


def params_seal(declared, values: dict) -> dict:
    """Cleaned values -> Run.params: secret ones sealed as {"secret": token}."""
    secret = param_secret_names(declared)
    return {
        name: {"secret": secret_encrypt(str(value), purpose=PURPOSE)} if name in secret else value
        for name, value in values.items()
    }


def params_open(stored) -> dict:
    """Run.params back to plain values (a sealed one that cannot be opened becomes "")."""
    if not isinstance(stored, dict):
        return {}
    return {
        name: secret_decrypt(str(value.get("secret") or ""), purpose=PURPOSE)
        if isinstance(value, dict)
        else value
        for name, value in stored.items()
    }


def params_masked(stored) -> dict:
    """Run.params as shown (API, run page, audit): secret values as MASK, never opened."""
    if not isinstance(stored, dict):
        return {}
    return {name: MASK if isinstance(value, dict) else value for name, value in stored.items()}


def param_text(value) -> str:
    """A value as a script sees it (environment) and as {{params.NAME}} writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def param_env_name(name: str) -> str:
    return f"{ENV_PREFIX}{name}"
