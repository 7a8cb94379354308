"""What a run executes, frozen into Run.spec when it is queued (docs/architecture.md, record 1).

One typed shape, built from a job (RunSpec.from_job; an ad-hoc LocalFlow task is the unsaved
job it describes) and read back from the JSON column (RunSpec.from_json). Secret variables are
a reference: their names, read from the job when the run starts (jobs.secrets), never a copy;
so are secret parameters (their values are sealed in Run.params, opened when the run starts).
A run's other parameter values, its place in a chain (the parent run, its status, the depth)
and the job's chain links as they were when the run was queued travel in the spec too, so a
run without links costs its finish nothing (runs.chains).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from django.conf import settings

from jobs.models import JobKind
from jobs.params import param_env_name, param_secret_names, param_text, params_open

DEFAULT_TIMEOUT = 3600
DEFAULT_SHELL = "/bin/bash"
DEFAULT_WORKING_DIR = "/tmp"  # noqa: S108 (the job's default, docs/api.md)


@dataclass(frozen=True)
class RetryPolicy:
    count: int = 0  # attempts after the first
    delay_seconds: int = 60
    backoff: bool = False  # exponential: delay * 2**(attempt-1), capped
    backoff_max_seconds: int = 3600
    exit_codes: tuple[int, ...] = ()  # empty = any non-zero exit code

    def delay(self, failed_attempt: int) -> int:
        """Seconds before the next attempt after attempt `failed_attempt` (1-based) failed."""
        delay = self.delay_seconds
        if self.backoff:
            delay = delay * (2 ** max(0, failed_attempt - 1))
            if self.backoff_max_seconds:
                delay = min(delay, self.backoff_max_seconds)
        return max(0, delay)

    def wants(self, *, attempt: int, exit_code: int | None) -> bool:
        """After failed attempt `attempt`: another one? Exit codes filter when listed; a lost
        or interrupted worker (no exit code) counts as retryable."""
        if attempt > self.count:
            return False
        return not self.exit_codes or exit_code is None or exit_code in self.exit_codes

    def to_json(self) -> dict:
        return {
            "count": self.count,
            "delay_seconds": self.delay_seconds,
            "backoff": self.backoff,
            "backoff_max_seconds": self.backoff_max_seconds,
            "exit_codes": list(self.exit_codes),
        }

    @classmethod
    def from_json(cls, data) -> RetryPolicy:
        data = _mapping(data or {}, "retry")
        return cls(
            count=max(0, _int(data.get("count"), 0)),
            delay_seconds=max(0, _int(data.get("delay_seconds"), 60)),
            backoff=bool(data.get("backoff", False)),
            backoff_max_seconds=max(0, _int(data.get("backoff_max_seconds"), 3600)),
            exit_codes=tuple(_int(code, 0) for code in data.get("exit_codes") or ()),
        )


LIMIT_FIELDS = ("max_memory_mb", "max_cpu_percent", "max_cpu_sustain_seconds", "max_processes")


@dataclass(frozen=True)
class Limits:
    """What a run's processes may use, from the job's admin-only fields (None = no limit);
    the executor's monitor stops a run over one (runs.engine.limits)."""

    max_memory_mb: int | None = None  # the whole tree's resident memory
    max_cpu_percent: int | None = None  # 100 = one core
    max_cpu_sustain_seconds: int | None = None  # over max_cpu_percent this long (None = 0)
    max_processes: int | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, name) is not None for name in LIMIT_FIELDS)

    def to_json(self) -> dict:
        return {name: getattr(self, name) for name in LIMIT_FIELDS if getattr(self, name)}

    @classmethod
    def from_json(cls, data) -> Limits:
        data = _mapping(data or {}, "limits")
        return cls(**{name: _int(data.get(name), None, name) for name in LIMIT_FIELDS})


@dataclass(frozen=True)
class RunSpec:
    """shell: `script` run by `shell`; command: `argv`, no shell; http: the request."""

    kind: str
    timeout_seconds: int = DEFAULT_TIMEOUT
    retry: RetryPolicy = RetryPolicy()
    script: str = ""
    shell: str = DEFAULT_SHELL
    argv: tuple[str, ...] = ()
    working_dir: str = DEFAULT_WORKING_DIR
    env: dict[str, str] = field(default_factory=dict)
    secret_names: tuple[str, ...] = ()  # the job's secret variables, by name
    run_as: str = ""  # an allowed OS user; "" = the configured job user
    method: str = "GET"
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: str | dict | list = ""
    limits: Limits = Limits()
    params: dict[str, str] = field(default_factory=dict)  # NAME -> value, not secret ones
    secret_params: tuple[str, ...] = ()  # names; values in Run.params, sealed
    chain: dict = field(default_factory=dict)  # {"parent", "status", "depth"} of a follow-up
    followups: tuple[dict, ...] = ()  # the job's links: {"job", "on", "params"}

    @classmethod
    def for_run(
        cls, job, *, values: dict | None = None, chain: dict | None = None, followups=()
    ) -> RunSpec:
        """from_job, with the run's parameter values (cleaned), its chain and the links."""
        spec = cls.from_job(job)
        secret = param_secret_names(job.params)
        values = values or {}
        return dataclasses.replace(
            spec,
            params={name: param_text(v) for name, v in values.items() if name not in secret},
            secret_params=tuple(name for name in values if name in secret),
            chain=dict(chain or {}),
            followups=tuple(followups),
        )

    def opened(self, run) -> RunSpec:
        """This spec with the run's secret parameter values in `params` (opened from
        Run.params, which is read only when there are some): in memory, never stored."""
        if not self.secret_params:
            return self
        values = params_open(run.params)
        secret = {name: param_text(values.get(name, "")) for name in self.secret_params}
        return dataclasses.replace(self, params={**self.params, **secret})

    def secret_param_env(self) -> dict[str, str]:
        """TASKFLOW_PARAM_<NAME> of the secret parameters (after opened(): masked in logs)."""
        return {param_env_name(name): self.params.get(name, "") for name in self.secret_params}

    def run_env(self) -> dict[str, str]:
        """The job's variables, TASKFLOW_PARAM_<NAME> for each (non-secret) value and, for a
        follow-up, TASKFLOW_PARENT_RUN_ID and TASKFLOW_PARENT_STATUS."""
        env = dict(self.env)
        env.update({param_env_name(name): value for name, value in self.params.items()})
        if self.chain:
            env["TASKFLOW_PARENT_RUN_ID"] = str(self.chain.get("parent", ""))
            env["TASKFLOW_PARENT_STATUS"] = str(self.chain.get("status", ""))
        return env

    @classmethod
    def from_job(cls, job) -> RunSpec:
        """The job as it is now: editing it later never changes a queued run. The timeout is
        held to MAX_JOB_TIMEOUT as it stands at enqueue time."""
        limit = settings.TASKFLOW["MAX_JOB_TIMEOUT"]
        timeout = job.timeout_seconds if job.timeout_seconds is not None else DEFAULT_TIMEOUT
        common = {
            "kind": job.kind,
            "timeout_seconds": max(1, min(int(timeout), limit)),
            "retry": RetryPolicy(
                count=job.retry_count,
                delay_seconds=job.retry_delay_seconds,
                backoff=job.retry_backoff,
                backoff_max_seconds=job.retry_backoff_max_seconds,
                exit_codes=tuple(job.retry_exit_codes or ()),
            ),
        }
        if job.kind == JobKind.HTTP:
            return cls(
                **common,
                method=job.http_method or "GET",
                url=job.http_url,
                headers=_strings(job.http_headers),
                body=job.http_body,
            )
        command = job.kind == JobKind.COMMAND
        return cls(
            **common,
            script="" if command else job.script,
            shell=job.shell or DEFAULT_SHELL,
            argv=tuple(str(part) for part in job.command or ()) if command else (),
            working_dir=job.working_dir or DEFAULT_WORKING_DIR,
            env=_strings(job.env_vars),
            secret_names=tuple(str(name) for name in job.secret_env_vars or {}),
            run_as=job.run_as or "",
            limits=Limits(**{name: getattr(job, name, None) for name in LIMIT_FIELDS}),
        )

    @classmethod
    def from_json(cls, data) -> RunSpec:
        """A stored Run.spec; ValueError (a message for the run's log) when it cannot be one."""
        data = _mapping(data, "spec")
        kind = str(data.get("kind") or "")
        common = {
            "kind": kind,
            "timeout_seconds": _int(data.get("timeout_seconds"), DEFAULT_TIMEOUT, "timeout"),
            "retry": RetryPolicy.from_json(data.get("retry")),
            "params": _strings(_mapping(data.get("params") or {}, "params")),
            "secret_params": tuple(str(name) for name in data.get("secret_params") or ()),
            "chain": _mapping(data.get("chain") or {}, "chain"),
            "followups": tuple(data.get("followups") or ()),
        }
        if kind == JobKind.HTTP:
            return cls(
                **common,
                method=str(data.get("method") or "GET").upper(),
                url=str(data.get("url") or ""),
                headers=_strings(_mapping(data.get("headers") or {}, "headers")),
                body=data.get("body") if data.get("body") is not None else "",
            )
        argv = data.get("argv") or []
        if not isinstance(argv, list):
            raise ValueError("argv must be a list")
        return cls(
            **common,
            script=str(data.get("script") or ""),
            shell=str(data.get("shell") or DEFAULT_SHELL),
            argv=tuple(str(part) for part in argv),
            working_dir=str(data.get("working_dir") or DEFAULT_WORKING_DIR),
            env=_strings(_mapping(data.get("env") or {}, "env")),
            secret_names=tuple(str(name) for name in data.get("secret_refs") or ()),
            run_as=str(data.get("run_as") or ""),
            limits=Limits.from_json(data.get("limits")),
        )

    def to_json(self) -> dict:
        """The Run.spec column: the keys rows have always had, per kind (parameters, chain and
        links only when there are some)."""
        extra = {
            key: value
            for key, value in (
                ("params", dict(self.params)),
                ("secret_params", list(self.secret_params)),
                ("chain", dict(self.chain)),
                ("followups", [dict(link) for link in self.followups]),
            )
            if value
        }
        if self.kind == JobKind.HTTP:
            return {
                "kind": self.kind,
                "method": self.method,
                "url": self.url,
                "headers": dict(self.headers),
                "body": self.body,
                "timeout_seconds": self.timeout_seconds,
                "retry": self.retry.to_json(),
                **extra,
            }
        data = {
            "kind": self.kind,
            "shell": self.shell,
            "working_dir": self.working_dir,
            "env": dict(self.env),
            "secret_refs": list(self.secret_names),
            "timeout_seconds": self.timeout_seconds,
            "retry": self.retry.to_json(),
        }
        if self.run_as:
            data["run_as"] = self.run_as
        if self.limits:
            data["limits"] = self.limits.to_json()
        if self.kind == JobKind.COMMAND:
            data["argv"] = list(self.argv)
        else:
            data["script"] = self.script
        data.update(extra)
        return data

    def command_line(self) -> list[str]:
        """What the executor starts: the argv of a command run, the shell with the script."""
        if self.kind == JobKind.COMMAND:
            return list(self.argv)
        return [self.shell, "-c", self.script]


def _mapping(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    return value


def _int(value, default: int | None, name: str = "value") -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None


def _strings(mapping) -> dict[str, str]:
    return {str(key): str(value) for key, value in (mapping or {}).items()}
