"""Each job's webhook signing secret: generated with the job, rotatable, shown only when it is
made (creation, rotation), stored encrypted (taskflow_site.lib.secretbox) and read back only by
notifications.webhooks to sign deliveries."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.audit import job_audit_secret_changed
from jobs.models import Job
from taskflow_site.lib.secretbox import secret_decrypt, secret_encrypt

PURPOSE = "webhook-secret"
PREFIX = "whsec_"
MIN_CHARS, MAX_CHARS = 24, 200


def webhook_secret_new() -> tuple[str, str]:
    """A fresh secret and its stored (encrypted) form."""
    secret = PREFIX + secrets.token_urlsafe(32)
    return secret, secret_encrypt(secret, purpose=PURPOSE)


def job_webhook_secret_rotate(*, job: Job, secret: str | None = None) -> str:
    """Replace the job's signing secret (generated unless one is given) and return it: the
    only time it is shown. Raises ValidationError for a given secret that is too weak."""
    if secret is None:
        secret, stored = webhook_secret_new()
    else:
        if not MIN_CHARS <= len(secret) <= MAX_CHARS or not secret.isprintable():
            raise ValidationError({"secret": [f"{MIN_CHARS} to {MAX_CHARS} printable characters."]})
        stored = secret_encrypt(secret, purpose=PURPOSE)
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(webhook_secret=stored)
        job.webhook_secret = stored
        job_audit_secret_changed(job)
    return secret


def job_webhook_secret(*, job: Job) -> str:
    """The job's signing secret ("" when none is stored or it cannot be decrypted)."""
    return secret_decrypt(job.webhook_secret, purpose=PURPOSE)
