"""Time zone service (no Django): the IANA zones jobs may use, the server's own zone, and
conversions. Jobs never depend on the server's zone; it is shown for information only."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# present in some tzdata builds but not places a user means
_NOT_ZONES = {"Factory", "localtime", "posixrules"}


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones() - _NOT_ZONES))


def timezone_list() -> list[str]:
    """Every IANA zone name known to this system, sorted."""
    return list(_zones())


def timezone_valid(name: str) -> bool:
    return isinstance(name, str) and (name in _zones() or name == "UTC")


def _iana_from_path(path: str) -> str | None:
    marker = "zoneinfo/"
    if marker in path:
        candidate = path.split(marker, 1)[1]
        return candidate if timezone_valid(candidate) else None
    return None


def server_timezone_name() -> str:
    """The server's IANA zone: $TZ, then /etc/timezone, then the /etc/localtime link; UTC."""
    env_tz = os.environ.get("TZ", "").lstrip(":")
    if env_tz:
        if timezone_valid(env_tz):
            return env_tz
        from_path = _iana_from_path(env_tz)
        if from_path:
            return from_path
    try:
        text = Path("/etc/timezone").read_text().strip()
        if timezone_valid(text):
            return text
    except OSError:
        pass
    try:
        from_link = _iana_from_path(os.path.realpath("/etc/localtime"))
        if from_link:
            return from_link
    except OSError:
        pass
    return "UTC"


def server_timezone(now: datetime | None = None) -> dict:
    """{"name": abbreviation now (CET), "offset": seconds east of UTC now, "iana": name}."""
    iana = server_timezone_name()
    try:
        zone = ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        iana, zone = "UTC", ZoneInfo("UTC")
    local = (now or datetime.now(UTC)).astimezone(zone)
    offset = local.utcoffset()
    return {
        "name": local.tzname() or iana,
        "offset": int(offset.total_seconds()) if offset is not None else 0,
        "iana": iana,
    }


def to_zone(instant: datetime, tz_name: str) -> datetime:
    """An aware instant shown as wall time in `tz_name`."""
    if instant.tzinfo is None:
        raise ValueError("instant must be aware")
    return instant.astimezone(ZoneInfo(tz_name))


def local_to_utc(wall: datetime, tz_name: str, *, fold: int = 0) -> datetime:
    """A naive wall time in `tz_name` as a UTC instant (fold=0: the first of a repeated hour)."""
    return wall.replace(tzinfo=ZoneInfo(tz_name), fold=fold).astimezone(UTC)
