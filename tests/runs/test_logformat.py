"""runs.logformat: the LogChunk text format and cleaning raw output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runs.logformat import clean_text, decode_data, encode_block, encode_lines, split_lines

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_it_round_trips_lines_with_stream_number_and_time():
    data = encode_lines([("stdout", 0, "hello"), ("stderr", 15, "oops\tx"), ("system", 2000, "")])
    lines = decode_data(data, first_line=7, created_at=T0)
    assert [(ln.number, ln.stream, ln.content) for ln in lines] == [
        (7, "stdout", "hello"),
        (8, "stderr", "oops\tx"),
        (9, "system", ""),
    ]
    assert lines[1].timestamp == T0 + timedelta(milliseconds=15)


def test_it_encodes_a_block_of_lines_sharing_a_prefix():
    data = encode_block("stderr", 5, ["a", "b", "c"])
    assert data == "e5\ta\ne5\tb\ne5\tc"
    assert [ln.content for ln in decode_data(data, first_line=1, created_at=T0)] == ["a", "b", "c"]


def test_it_keeps_invalid_utf8_readable_and_strips_nul():
    text = clean_text(b"ok\n\xff\xfe\x97bad\x00nul\n")
    assert text == "ok\n\ufffd\ufffd\ufffdbadnul\n"
    assert split_lines(text) == ["ok", "\ufffd\ufffd\ufffdbadnul"]


def test_it_masks_secret_values():
    assert clean_text(b"token=s3cr3t and s3cr3t\n", ["s3cr3t", ""]) == "token=*** and ***\n"


def test_it_strips_carriage_returns_at_line_end():
    assert split_lines("a\r\nb\n") == ["a", "b"]
