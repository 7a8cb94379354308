"""Fixtures shared by HTTP and webhook tests: a local server and an allowlist that admits it."""

from __future__ import annotations

import pytest

from tests.http.servers import LocalServer


@pytest.fixture
def local_server():
    server = LocalServer()
    yield server
    server.stop()


@pytest.fixture
def allow_loopback(settings):
    """Allowlist 127.0.0.1 through settings (what an operator's env var does)."""
    settings.TASKFLOW = {**settings.TASKFLOW, "HTTP_ALLOWLIST": ["127.0.0.1/32"]}
