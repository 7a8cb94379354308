"""Secrets at rest (the SMTP password, each job's webhook signing secret): Fernet with a key
derived from SECRET_KEY and the secret's purpose, so a value stored for one purpose never
decrypts as another and none of them is readable in a dump, a backup or a settings page."""

from __future__ import annotations

import base64
import hashlib
import logging

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

logger = logging.getLogger(__name__)


def _fernet(purpose: str) -> Fernet:
    material = f"taskflow.{purpose}:".encode() + settings.SECRET_KEY.encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material).digest()))


def secret_encrypt(value: str, *, purpose: str) -> str:
    """The stored form of `value` ("" stays "": nothing is stored)."""
    return _fernet(purpose).encrypt(value.encode()).decode() if value else ""


def secret_decrypt(stored: str, *, purpose: str) -> str:
    """The value back; "" when nothing is stored or it cannot be decrypted (SECRET_KEY
    changed), which is logged, never raised: the caller treats it as not set."""
    if not stored:
        return ""
    try:
        return _fernet(purpose).decrypt(stored.encode()).decode()
    except (InvalidToken, ValueError):
        logger.warning("a stored %s cannot be decrypted (SECRET_KEY changed?)", purpose)
        return ""
