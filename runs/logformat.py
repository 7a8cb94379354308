"""The text format of runs.LogChunk.data, and turning raw process output into clean lines.

Pure Python (no Django): one record per line, `<o|e|s><ms since chunk.created_at>\\t<text>`,
records joined by "\\n"; the text never holds a newline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

STREAM_CODES = {"stdout": "o", "stderr": "e", "system": "s"}
CODE_STREAMS = {code: stream for stream, code in STREAM_CODES.items()}


class LogLine(NamedTuple):
    number: int
    stream: str  # stdout | stderr | system
    timestamp: datetime
    content: str


def clean_text(raw: bytes, secrets: Iterable[str] = ()) -> str:
    """Bytes to readable text: invalid UTF-8 replaced, NUL stripped, secret values masked."""
    text = raw.decode("utf-8", "replace")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return mask_secrets(text, secrets)


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value and value in text:
            text = text.replace(value, "***")
    return text


def split_lines(text: str) -> list[str]:
    """Complete lines of `text` (which ends with a newline or is one unterminated line)."""
    lines = text.split("\n")
    if lines and lines[-1] == "" and len(lines) > 1:
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def encode_block(stream: str, offset_ms: int, texts: list[str]) -> str:
    """Records for many lines that share a stream and a timestamp (one join, no per-line work)."""
    prefix = f"{STREAM_CODES[stream]}{max(0, offset_ms)}\t"
    return prefix + ("\n" + prefix).join(texts)


def encode_lines(lines: Iterable[tuple[str, int, str]]) -> str:
    """(stream, ms since the chunk's created_at, text) per line -> LogChunk.data."""
    return "\n".join(f"{STREAM_CODES[stream]}{max(0, ms)}\t{text}" for stream, ms, text in lines)


def decode_data(data: str, *, first_line: int, created_at: datetime) -> list[LogLine]:
    lines = []
    for offset, record in enumerate(data.split("\n")):
        head, _, content = record.partition("\t")
        stream = CODE_STREAMS.get(head[:1], "stdout")
        try:
            ms = int(head[1:])
        except ValueError:
            ms = 0
        lines.append(
            LogLine(first_line + offset, stream, created_at + timedelta(milliseconds=ms), content)
        )
    return lines


def decode_chunk(chunk) -> list[LogLine]:
    """A runs.LogChunk (or anything with first_line, created_at, data) -> its lines."""
    return decode_data(chunk.data, first_line=chunk.first_line, created_at=chunk.created_at)
