"""A data directory deeper than a Unix socket address allows (108 bytes) still wakes drains:
their wake sockets move to a private directory in /tmp named after it."""

from __future__ import annotations

import os
import select

from runs.engine.wake import SUN_PATH_MAX, WakeSocket, wake_dir, wake_workers


def test_a_deep_data_directory_still_binds_wake_sockets(settings, tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    settings.DATA_DIR = deep
    wake = WakeSocket()
    try:
        assert len(os.fsencode(wake.path)) <= SUN_PATH_MAX
        assert wake_dir() == wake.path.parent
        assert wake_dir().stat().st_mode & 0o077 == 0
        assert wake_workers() == 1
        assert select.select([wake], [], [], 10)[0] == [wake]
    finally:
        wake.close()
        wake.path.parent.rmdir()


def test_a_short_data_directory_keeps_them_inside_it(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    assert wake_dir() == tmp_path / "wake"
