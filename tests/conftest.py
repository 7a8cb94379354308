"""Shared fixtures: the three personas, API clients, and a file database for real processes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.services import token_pair_for
from tests.factories import AdminFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """API throttles count in the cache; without this, one test's requests (same user id, same
    127.0.0.1) would count against the next test's 5 logins/min and 100 requests/min."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def admin_user(db):
    return AdminFactory(username="admin")


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


def _client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(user)['access']}")
    return client


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def admin_api(admin_user):
    return _client_for(admin_user)


@pytest.fixture
def owner_api(owner):
    return _client_for(owner)


@pytest.fixture
def outsider_api(outsider):
    return _client_for(outsider)


@pytest.fixture
def processes(tmp_path):
    """Real child processes for this test; all stopped by PID at teardown."""
    from tests.support.processes import ProcessGroup

    group = ProcessGroup(tmp_path)
    yield group
    group.stop_all()
