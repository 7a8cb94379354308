"""One way to write a time, a duration and a size, for the API, the live stream, e-mails and the
admin. Times are ISO 8601 UTC with a `Z`, as DRF writes them (docs/api.md, "Conventions")."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """`2026-03-01T12:00:00.123456Z` (DRF's DateTimeField output for UTC); None stays None."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def duration_text(ms: int | float | None) -> str:
    """`4.2 s`, `3 min 12 s`, `2 h 5 min`; `—` when unknown."""
    if ms is None:
        return "—"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def bytes_text(value: int | float | None) -> str:
    """`512 B`, `1.5 KiB`, `12.0 MiB`, `3.2 GiB`; `—` when unknown."""
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
