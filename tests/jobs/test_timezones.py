"""Time zone service, and B9: the server's own zone never moves a job's UTC fire times."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest

from jobs.schedule import empty_schedule, schedule_preview
from jobs.timezones import (
    local_to_utc,
    server_timezone,
    server_timezone_name,
    timezone_list,
    timezone_valid,
    to_zone,
)


@pytest.fixture
def server_tz():
    """Set the process's TZ (as a server configured in another zone would be), then restore."""
    original = os.environ.get("TZ")

    def set_tz(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield set_tz
    if original is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = original
    time.tzset()


def test_it_lists_iana_zones_sorted():
    zones = timezone_list()
    assert zones == sorted(zones)
    assert {"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"} <= set(zones)
    assert "localtime" not in zones and "Factory" not in zones


def test_it_knows_valid_zone_names():
    assert timezone_valid("Europe/Berlin")
    assert not timezone_valid("Europe/Atlantis")
    assert not timezone_valid("../../etc/passwd")
    assert not timezone_valid(None)


def test_it_reports_the_servers_zone_from_tz(server_tz):
    server_tz("America/New_York")
    info = server_timezone(now=datetime(2025, 1, 15, tzinfo=UTC))
    assert info == {"name": "EST", "offset": -5 * 3600, "iana": "America/New_York"}
    summer = server_timezone(now=datetime(2025, 7, 15, tzinfo=UTC))
    assert summer["name"] == "EDT" and summer["offset"] == -4 * 3600


def test_it_falls_back_to_the_system_zone_when_tz_is_not_a_zone(server_tz):
    server_tz("not a zone")
    assert timezone_valid(server_timezone_name())


def test_it_converts_between_wall_time_and_utc():
    instant = datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert to_zone(instant, "Europe/Berlin").strftime("%H:%M %Z") == "02:30 CEST"
    assert local_to_utc(datetime(2025, 10, 26, 2, 30), "Europe/Berlin") == instant
    assert local_to_utc(datetime(2025, 10, 26, 2, 30), "Europe/Berlin", fold=1) == datetime(
        2025, 10, 26, 1, 30, tzinfo=UTC
    )


def test_it_fires_at_the_same_utc_times_whatever_the_servers_zone(server_tz):  # B9
    schedules = [
        empty_schedule() | {"cron_expr": "30 2 * * *"},
        empty_schedule() | {"hours": [9], "minutes": [0, 30], "weekdays": [1, 5]},
        empty_schedule() | {"cron_expr": "*/45 * * * *"},
    ]
    start = datetime(2025, 3, 28, tzinfo=UTC)

    def fire_times():
        return [
            schedule_preview(schedule, zone, start, 50)
            for schedule in schedules
            for zone in ("Europe/Berlin", "America/New_York", "UTC")
        ]

    server_tz("UTC")
    baseline = fire_times()
    for zone in ("Asia/Kolkata", "America/Los_Angeles", "Australia/Lord_Howe"):
        server_tz(zone)
        assert fire_times() == baseline
