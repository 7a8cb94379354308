"""run_log_lines pages by line number across chunks; run_log_text downloads everything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.logformat import encode_block
from runs.models import LogChunk
from runs.services import run_log_lines, run_log_text
from tests.factories import RunFactory
from tests.runs.helpers import store_chunks

pytestmark = pytest.mark.django_db


def test_it_pages_by_line_number_across_chunks():
    run = RunFactory()
    total = store_chunks(run, [3, 5, 1, 40])
    page = run_log_lines(run=run, after=2, limit=5)
    assert [line.number for line in page] == [3, 4, 5, 6, 7]
    assert page[0].content == "line 3"
    rest = run_log_lines(run=run, after=7, limit=1000)
    assert [line.number for line in rest] == list(range(8, total + 1))
    assert run_log_lines(run=run, after=total) == []


def test_it_downloads_the_log_as_text():
    run = RunFactory()
    store_chunks(run, [2, 2])
    text = "".join(run_log_text(run=run))
    assert text.count("\n") == 4
    assert text.splitlines()[3].endswith("stdout line 4")


def test_it_keeps_timestamps_relative_to_the_chunk():
    run = RunFactory()
    start = timezone.now()
    LogChunk.objects.create(
        run=run,
        first_line=1,
        last_line=1,
        created_at=start,
        data=encode_block("system", 250, ["x"]),
    )
    (line,) = run_log_lines(run=run)
    assert line.timestamp == start + timedelta(milliseconds=250)
