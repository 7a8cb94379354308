"""Chunks stay large when lines trickle (the last small chunk grows in place), and pages read
by line number return the right lines wherever they start (issue 14)."""

from __future__ import annotations

import time

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from runs.engine.logbuffer import Block, LogBuffer
from runs.engine.outcome import write_rows
from runs.logformat import encode_block
from runs.models import LogChunk
from runs.services import run_log_lines, run_system_line
from tests.factories import RunFactory
from tests.runs.helpers import lines, run_script, store_chunks

pytestmark = pytest.mark.django_db


def _flush_one_line_at_a_time(run, buffer: LogBuffer, texts: list[str]) -> None:
    """What the executor does for a stream that prints a line now and then."""
    for text in texts:
        buffer.add(Block("stdout", time.time(), text, 1, len(text) + 1))
        with transaction.atomic():
            write_rows(run.pk, buffer.take_rows(), [])


def test_a_trickle_of_lines_fills_chunks_instead_of_one_row_per_line():
    run = RunFactory()
    texts = [f"tick {n}" for n in range(1, 1001)]

    _flush_one_line_at_a_time(run, LogBuffer(), texts)

    rows = LogChunk.objects.filter(run=run).count()
    assert rows <= 10  # ~12 bytes a line: a few hundred lines per chunk, not 1,000 rows
    page = run_log_lines(run=run, after=0, limit=5000)
    assert [line.number for line in page] == list(range(1, 1001))
    assert [line.content for line in page] == texts
    assert all(line.stream == "stdout" for line in page)


def test_a_grown_chunk_keeps_each_lines_own_time():
    run = RunFactory()
    buffer = LogBuffer()
    start = time.time()
    buffer.add(Block("stdout", start, "first", 1, 6))
    write_rows(run.pk, buffer.take_rows(), [])
    buffer.add(Block("stderr", start + 2.5, "later", 1, 6))
    write_rows(run.pk, buffer.take_rows(), [])

    first, later = run_log_lines(run=run)
    assert LogChunk.objects.filter(run=run).count() == 1
    assert later.stream == "stderr"
    assert round((later.timestamp - first.timestamp).total_seconds(), 2) == 2.5


def test_a_chunk_never_grows_over_a_line_someone_else_appended():
    """The reconciler marked the run lost and appended its system line: the executor's next
    flush must not extend its chunk over that line (it is no longer the executor's run)."""
    run = RunFactory()
    buffer = LogBuffer()
    _flush_one_line_at_a_time(run, buffer, ["one", "two"])
    run_system_line(run=run, text="worker lost: marked failed by the reconciler")

    buffer.add(Block("stdout", time.time(), "three", 1, 6))
    with pytest.raises(IntegrityError), transaction.atomic():
        write_rows(run.pk, buffer.take_rows(), [])

    assert [line.content for line in run_log_lines(run=run)] == [
        "one",
        "two",
        "worker lost: marked failed by the reconciler",
    ]


def test_a_real_script_printing_slowly_stores_few_rows():
    run = run_script('for i in $(seq 1 150); do echo "slow line $i"; sleep 0.004; done')

    printed = [text for text in lines(run) if text.startswith("slow line")]
    assert printed == [f"slow line {n}" for n in range(1, 151)]
    assert LogChunk.objects.filter(run=run).count() <= 5  # ~2.5 KB of lines (+ system lines)


def test_pages_from_the_start_middle_and_end_of_a_long_log_hold_the_right_lines():
    run = RunFactory()
    other = RunFactory()  # another run's lines never leak into the page
    store_chunks(other, [500] * 20)
    sizes = [1, 7, 1000, 3, 1, 1, 250, 4096] * 40
    total = store_chunks(run, sizes)

    for after in (0, 1, 7, 8, total // 2, total // 2 + 1, total - 1000, total - 3):
        page = run_log_lines(run=run, after=after, limit=1000)
        expected = list(range(after + 1, min(total, after + 1000) + 1))
        assert [line.number for line in page] == expected, after
        assert [line.content for line in page] == [f"line {n}" for n in expected]
    assert run_log_lines(run=run, after=total) == []


def test_a_page_steps_over_lines_lost_to_a_full_disk():
    run = RunFactory()
    now = timezone.now()
    for first, texts in ((1, ["a", "b"]), (2003, ["c"]), (2004, ["d", "e"])):
        LogChunk.objects.create(
            run=run,
            first_line=first,
            last_line=first + len(texts) - 1,
            created_at=now,
            data=encode_block("stdout", 0, texts),
        )

    assert [(x.number, x.content) for x in run_log_lines(run=run, limit=4)] == [
        (1, "a"),
        (2, "b"),
        (2003, "c"),
        (2004, "d"),
    ]
    assert [x.number for x in run_log_lines(run=run, after=2, limit=10)] == [2003, 2004, 2005]
