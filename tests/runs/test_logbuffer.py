"""runs.engine.logbuffer: splitting raw output into lines and the head + tail cap (pure Python)."""

from __future__ import annotations

from runs.engine.logbuffer import LINE_MAX, LogBuffer, StreamSplitter
from runs.logformat import decode_data


def _stored(buffer: LogBuffer) -> list[tuple[int, str, str]]:
    out = []
    for first, _, at, data, _ in buffer.take_rows():
        out += [
            (ln.number, ln.stream, ln.content)
            for ln in decode_data(data, first_line=first, created_at=at)
        ]
    return out


def test_it_splits_lines_across_reads_and_keeps_the_partial():
    splitter = StreamSplitter("stdout", [])
    blocks = splitter.feed(b"one\ntw", 0.0) + splitter.feed(b"o\nthr", 0.0) + splitter.finish(0.0)
    assert [block.text for block in blocks] == ["one", "two", "thr"]


def test_it_masks_secrets_per_block():
    splitter = StreamSplitter("stdout", ["hunter2"])
    (block,) = splitter.feed(b"pw=hunter2\n", 0.0)
    assert block.text == "pw=***"


def test_it_stores_a_long_line_in_bounded_pieces():
    splitter = StreamSplitter("stdout", [])
    blocks = splitter.feed(b"x" * (LINE_MAX * 3 + 10), 0.0)
    assert len(splitter.partial) <= LINE_MAX
    assert all(len(block.text) == LINE_MAX for block in blocks)


def test_it_numbers_lines_contiguously_across_streams():
    buffer = LogBuffer()
    buffer.system("start", 0.0)
    out = StreamSplitter("stdout", [])
    err = StreamSplitter("stderr", [])
    for block in out.feed(b"a\nb\n", 0.0) + err.feed(b"c\n", 0.0) + out.feed(b"d\n", 0.0):
        buffer.add(block)
    assert _stored(buffer) == [
        (1, "system", "start"),
        (2, "stdout", "a"),
        (3, "stdout", "b"),
        (4, "stderr", "c"),
        (5, "stdout", "d"),
    ]


def test_it_keeps_head_and_tail_and_counts_what_was_dropped():
    buffer = LogBuffer(cap=100)
    splitter = StreamSplitter("stdout", [])
    raw = b"".join(b"%04d\n" % n for n in range(1000))  # 5000 bytes
    for start in range(0, len(raw), 700):
        for block in splitter.feed(raw[start : start + 700], 0.0):
            buffer.add(block)
    buffer.close(1.0)
    stored = _stored(buffer)
    texts = [content for _, stream, content in stored if stream == "stdout"]
    assert texts[:10] == [f"{n:04d}" for n in range(10)]
    assert texts[-1] == "0999"
    kept = sum(len(text) + 1 for text in texts)
    assert kept <= 100
    assert buffer.dropped == 5000 - kept
    assert [content for _, stream, content in stored if stream == "system"] == [
        f"{buffer.dropped} bytes dropped (log cap: kept the head and the tail)"
    ]
    assert [number for number, _, _ in stored] == list(range(1, len(stored) + 1))
