"""A job's secret variables at rest: each value encrypted (taskflow_site.lib.secretbox), the
column holding {NAME: token}. Nothing else stores them: a queued run keeps only their names
and the executor reads the values when the run starts (docs/architecture.md, record 12)."""

from __future__ import annotations

from taskflow_site.lib.secretbox import secret_decrypt, secret_encrypt

PURPOSE = "job-secret"


def secrets_open(stored) -> dict[str, str]:
    """The stored form back to NAME -> value ("" for one that cannot be decrypted)."""
    if not isinstance(stored, dict):
        return {}
    return {
        str(name): secret_decrypt(str(token), purpose=PURPOSE) for name, token in stored.items()
    }


def secrets_seal(values: dict[str, str], *, stored) -> dict[str, str]:
    """Plain values -> the stored form. A value that did not change keeps its stored token, so
    saving a job unchanged changes nothing (and the audit trail records no change)."""
    before = stored if isinstance(stored, dict) else {}
    sealed = {}
    for name, value in values.items():
        token = before.get(name)
        if token and secret_decrypt(str(token), purpose=PURPOSE) == value:
            sealed[name] = token
        else:
            sealed[name] = secret_encrypt(value, purpose=PURPOSE)
    return sealed


def job_secret_values(job, names=None) -> dict[str, str]:
    """The job's secret values (only `names`, when given)."""
    stored = job.secret_env_vars if job is not None else {}
    if names is not None and isinstance(stored, dict):
        stored = {name: stored[name] for name in names if name in stored}
    return secrets_open(stored)
