"""Short paths for the data directories of real TaskFlow trees: drains bind AF_UNIX wake
sockets under them (at most 108 bytes), and pytest's own temp paths are long."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def short_tmp():
    """Request it before `processes`, so it is removed after they stop."""
    path = Path(tempfile.mkdtemp(prefix="tf-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
