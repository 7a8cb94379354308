"""Logged-in Django test clients for the three personas (the admin uses the session)."""

from __future__ import annotations

import pytest
from django.test import Client


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user):
    return _logged_in(admin_user)


@pytest.fixture
def owner_client(owner):
    return _logged_in(owner)


@pytest.fixture
def outsider_client(outsider):
    return _logged_in(outsider)
