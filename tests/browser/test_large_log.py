"""A 100k-line log opens on its tail without freezing the page; earlier lines load on demand."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from playwright.async_api import expect

from tests.browser.conftest import login, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

TOTAL = 100_000


def _big_run(owner) -> str:
    from django.utils import timezone

    from runs.logformat import encode_lines
    from runs.models import LogChunk, RunStatus
    from tests.factories import RunFactory

    now = timezone.now()
    run = RunFactory(
        job__created_by=owner,
        job__name="chatty",
        status=RunStatus.SUCCESS,
        exit_code=0,
        started_at=now,
        finished_at=now,
        duration_ms=1234,
        log_lines=TOTAL,
    )
    chunks = []
    for first in range(1, TOTAL + 1, 1000):
        lines = [
            ("stderr" if n % 10 == 0 else "stdout", 0, f"line {n} \x1b[33mwarm\x1b[0m")
            for n in range(first, first + 1000)
        ]
        chunks.append(
            LogChunk(
                run=run,
                first_line=first,
                last_line=first + 999,
                created_at=now,
                data=encode_lines(lines),
            )
        )
    LogChunk.objects.bulk_create(chunks)
    return str(run.id)


async def test_it_shows_the_tail_of_a_huge_log_and_loads_earlier_lines(
    live_server_url, chromium_browser, owner
):
    run_id = await sync_to_async(_big_run)(owner)
    context = await chromium_browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await login(page, live_server_url, owner.username)

    started = time.monotonic()
    await page.goto(f"{live_server_url}/admin/runs/run/{run_id}/change/")
    await expect(page.locator(".tf-line").last).to_contain_text(f"line {TOTAL} ")
    opened_in = time.monotonic() - started
    assert await page.locator(".tf-line").count() == 1000  # the tail, not 100k rows
    await expect(page.locator(".tf-line").first).to_have_attribute("data-line", str(TOTAL - 999))
    # the page stays responsive: a trivial script round-trip is quick
    started = time.monotonic()
    await page.evaluate("1 + 1")
    assert time.monotonic() - started < 0.5
    assert opened_in < 15

    await page.click("[data-tf-earlier]")
    await expect(page.locator(".tf-line")).to_have_count(2000)
    await expect(page.locator(".tf-line").first).to_have_attribute("data-line", str(TOTAL - 1999))
    assert any(f"/api/runs/{run_id}/logs?after={TOTAL - 2000}&limit=1000" in u for u in requested)
    await expect(page.locator("[data-tf-follow]")).to_have_text("Follow")  # reading back pauses
    await expect(page.locator("[data-tf-log-info]")).to_contain_text(f"{TOTAL - 2000} earlier")
    await expect(page.locator(".tf-line.tf-stream-stderr .tf-fg3").first).to_have_text("warm")
    await shot(page, "12-large-log")
    await context.close()
    assert errors == []
