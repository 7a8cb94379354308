"""Clients and log helpers for tests: bearer and login clients, lines added to a run."""

from __future__ import annotations

from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from runs.logformat import encode_lines
from runs.models import LogChunk

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
CSRF_SECRET = "k" * 32  # a valid CSRF cookie value; the same string is a valid header token


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def login(username: str, password: str = PASSWORD, **extra):
    return APIClient().post(
        "/api/auth/login", {"username": username, "password": password}, format="json", **extra
    )


def add_log_lines(run, texts: list[str], stream: str = "stdout") -> None:
    first = run.log_lines + 1
    LogChunk.objects.create(
        run=run,
        first_line=first,
        last_line=first + len(texts) - 1,
        created_at=timezone.now(),
        data=encode_lines([(stream, index, text) for index, text in enumerate(texts)]),
    )
    run.log_lines = first + len(texts) - 1
    run.save(update_fields=["log_lines"])


def logged_in(user) -> Client:
    """A Django test client with the user's admin session (the UI's cookie login)."""
    client = Client()
    client.force_login(user)
    return client
