"""Reading a crontab (a user's `crontab -l`, or /etc/crontab with its user field) into the jobs
it describes; jobs.crontab_import checks and saves them (docs/cli.md, "import-crontab").

What each line becomes:
- `m h dom mon dow command` (names like MON-FRI and JAN, lists, ranges, steps) and the macros
  @yearly @annually @monthly @weekly @daily @midnight @hourly: a shell job with that cron
  expression (a macro as the 5 fields it stands for) and the command as its script.
- the comment line right above an entry (no blank line between): the job's name; else the
  command, shortened. A comment that is itself an entry (commented out) names nothing.
- `MAILTO=a@x,b@y`: the notify e-mails of the entries after it (`MAILTO=""`: none).
- `CRON_TZ=Zone` / `TZ=Zone`: the zone of the entries after it (TZ is also passed to the
  command, as cron does); else the server's zone, as cron uses the machine's.
- `SHELL=/path`: the shell of the entries after it (cron's default is /bin/sh).
- any other `NAME=value`: a variable (job `env_vars`) of the entries after it.
- `%` as cron reads it: the first unescaped `%` ends the command; the rest is its standard
  input, each further `%` a newline. TaskFlow feeds that input with a quoted here-document
  (`{ command\\n} <<'DELIM'`, nothing expanded); `\\%` is a literal `%`.
- /etc/crontab style (a user field after the five time fields): the job runs as that user when
  TASKFLOW_RUN_AS_USERS allows it, else as the job user and the line is reported.
- @reboot, cron-only settings (MAILFROM, RANDOM_DELAY...), bad expressions and anything else
  unreadable: reported with their line numbers, never dropped silently.
"""

from __future__ import annotations

import pwd
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from jobs.schedule import CRON_MACROS, ScheduleError, cron_normalize, zone_get
from taskflow_site.lib.jobuser import run_as_refusal

ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")
# settings only cron itself reads: nothing in TaskFlow to map them to
CRON_ONLY = frozenset(
    {"MAILFROM", "RANDOM_DELAY", "CONTENT_TYPE", "CONTENT_TRANSFER_ENCODING", "CRON_CORRECT_DST"}
)
CRON_SHELL = "/bin/sh"
NAME_MAX = 200
FORMATS = ("auto", "user", "system")
STDIN_MARK = "CRONTAB_STDIN"


@dataclass
class Entry:
    """One crontab entry as the job it becomes (not yet checked by the job rules)."""

    line: int
    text: str  # the line as the crontab has it
    name: str
    cron_expr: str
    command: str  # as the crontab has it
    script: str  # what the job runs
    timezone: str
    shell: str = CRON_SHELL
    env_vars: dict[str, str] = field(default_factory=dict)
    notify_emails: str = ""
    run_as: str = ""
    crontab_user: str = ""  # /etc/crontab style: the line's user field

    def job_fields(self) -> dict:
        """Keyword arguments for jobs.services.job_create (the schedule aside)."""
        return {
            "name": self.name,
            "description": f"Imported from a crontab (line {self.line}): {self.command}"[:10_000],
            "kind": "shell",
            "script": self.script,
            "shell": self.shell,
            "env_vars": dict(self.env_vars),
            "timezone": self.timezone,
            "notify_emails": self.notify_emails,
            "run_as": self.run_as,
        }


@dataclass
class Reported:
    """A line that did not become a job (imported=False), or a note on one that did."""

    line: int
    text: str
    reason: str
    imported: bool = False


@dataclass
class Crontab:
    entries: list[Entry]
    reported: list[Reported]
    system: bool  # /etc/crontab style (a user field)


def percent_split(command: str) -> tuple[str, str | None]:
    """cron's `%`: (the command, its standard input or None). The first unescaped % ends the
    command; in the input every further unescaped % is a newline; `\\%` is a literal %."""
    out: list[str] = []
    stdin: list[str] | None = None
    target = out
    index = 0
    while index < len(command):
        char = command[index]
        if char == "\\" and command[index + 1 : index + 2] == "%":
            target.append("%")
            index += 2
            continue
        if char == "%":
            if stdin is None:
                stdin = []
                target = stdin
            else:
                target.append("\n")
        else:
            target.append(char)
        index += 1
    return "".join(out), None if stdin is None else "".join(stdin)


def script_for(command: str, stdin: str | None) -> str:
    """The job's script: the command, with its standard input as a quoted here-document (no
    expansion, as cron pipes it) around the whole command, pipelines included."""
    if stdin is None:
        return command
    lines = stdin.split("\n")
    mark = STDIN_MARK
    while mark in lines:
        mark += "_"
    body = stdin if stdin.endswith("\n") else stdin + "\n"
    return f"{{\n{command}\n}} <<'{mark}'\n{body}{mark}\n"


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _schedule_split(text: str) -> tuple[str, str] | None:
    """(cron expression, rest) of an entry line, or None when the line is not one."""
    if text.startswith("@"):
        parts = text.split(None, 1)
        return parts[0].lower(), parts[1] if len(parts) > 1 else ""
    parts = text.split(None, 5)
    if len(parts) < 5 or not re.match(r"[0-9*]", parts[0]):
        return None
    return " ".join(parts[:5]), parts[5] if len(parts) > 5 else ""


def _os_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except (KeyError, ValueError):
        return False
    return True


def _is_system(rows: list[tuple[int, str, str, str]], run_as_users: list[str]) -> bool:
    """Every entry's first word after the schedule names a user of this machine."""
    users = [rest.split(None, 1) for _, _, _, rest in rows if rest]
    return bool(users) and all(
        len(words) == 2 and (words[0] in run_as_users or _os_user(words[0])) for words in users
    )


def _comment_name(comment: str | None) -> str | None:
    if not comment:
        return None
    text = comment.lstrip("#").strip()
    if not text or _schedule_split(text) is not None:  # an entry commented out names nothing
        return None
    return " ".join(text.split())[:NAME_MAX]


@dataclass
class _State:
    zone: str
    zone_line: int = 0
    zone_error: str = ""
    shell: str = CRON_SHELL
    mailto: str = ""
    env: dict[str, str] = field(default_factory=dict)


def _assign(state: _State, number: int, raw: str, name: str, value: str, out: list) -> None:
    """A `NAME=value` line: changes what the entries after it get."""
    value = _unquote(value)
    if name in ("CRON_TZ", "TZ"):
        try:
            zone_get(value)
            state.zone, state.zone_error = value, ""
        except ScheduleError as exc:
            state.zone_error = " ".join(exc.errors["timezone"])
            out.append(Reported(number, raw, f"{name}: {state.zone_error}"))
        state.zone_line = number
        if name == "TZ":
            state.env["TZ"] = value
    elif name == "MAILTO":
        addresses = [part.strip() for part in value.split(",") if part.strip()]
        good = [address for address in addresses if _email(address)]
        bad = [address for address in addresses if address not in good]
        if bad:
            why = f"MAILTO: {', '.join(bad)}: not an e-mail address (ignored; TaskFlow mails those)"
            out.append(Reported(number, raw, why))
        state.mailto = ", ".join(good)
    elif name == "SHELL":
        if value.startswith("/"):
            state.shell = value
        else:
            out.append(Reported(number, raw, "SHELL must be an absolute path (ignored)"))
    elif name in CRON_ONLY:
        out.append(Reported(number, raw, f"{name} is a setting of cron itself (ignored)"))
    else:
        state.env[name] = value


def _email(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def crontab_parse(
    text: str, *, default_zone: str, run_as_users: list[str], format: str = "auto"
) -> Crontab:
    """The entries of a crontab and the lines reported (see the module's docstring).
    `format`: "user" (no user field), "system" (/etc/crontab) or "auto" (system when every
    entry's word after the schedule is a user of this machine)."""
    lines = text.replace("\r\n", "\n").split("\n")
    rows: list[tuple[int, str, str, str]] = []  # (line, raw, expression, rest) of entries
    reported: list[Reported] = []
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if stripped and not stripped.startswith("#") and not ASSIGNMENT.fullmatch(stripped):
            split = _schedule_split(stripped)
            if split is not None:
                rows.append((number, raw, *split))
    system = format == "system" or (format == "auto" and _is_system(rows, run_as_users))

    state = _State(zone=default_zone)
    entries: list[Entry] = []
    comment: str | None = None
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        above, comment = comment, None
        if not stripped:
            continue
        if stripped.startswith("#"):
            comment = stripped
            continue
        split = _schedule_split(stripped)
        assignment = ASSIGNMENT.fullmatch(stripped)
        if split is None and assignment:
            _assign(state, number, raw, assignment.group(1), assignment.group(2), reported)
            continue
        if split is None:
            reported.append(Reported(number, raw, "not a crontab entry or NAME=value line"))
            continue
        entry = _entry(number, raw, split, state, system, run_as_users, reported)
        if entry is not None:
            fallback = " ".join(percent_split(entry.command)[0].split())
            entry.name = _comment_name(above) or fallback[:NAME_MAX]
            entries.append(entry)
    return Crontab(entries=entries, reported=reported, system=system)


def _entry(number, raw, split, state: _State, system, run_as_users, reported) -> Entry | None:
    expr, rest = split
    if expr == "@reboot":
        reported.append(Reported(number, raw, "@reboot: TaskFlow has no start-up trigger"))
        return None
    if expr.startswith("@") and expr not in CRON_MACROS:
        reported.append(Reported(number, raw, f"unknown macro {expr}"))
        return None
    user = ""
    if system:
        words = rest.split(None, 1)
        user, rest = words[0] if words else "", words[1] if len(words) > 1 else ""
    if state.zone_error:
        reason = f"its zone (line {state.zone_line}) is not valid: {state.zone_error}"
        reported.append(Reported(number, raw, reason))
        return None
    command, stdin = percent_split(rest)
    if not command.strip():
        reported.append(Reported(number, raw, "no command (before any %)"))
        return None
    entry = Entry(
        line=number,
        text=raw,
        name="",
        cron_expr=cron_normalize(CRON_MACROS.get(expr, expr)),
        command=rest,
        script=script_for(command, stdin),
        timezone=state.zone,
        shell=state.shell,
        env_vars=dict(state.env),
        notify_emails=state.mailto,
        crontab_user=user,
    )
    if user:
        refusal = run_as_refusal(user, run_as_users)
        if refusal is None:
            entry.run_as = user
        else:
            why = f"runs as {user} in the crontab: {refusal} The job runs as the job user."
            reported.append(Reported(number, raw, why, imported=True))
    return entry
