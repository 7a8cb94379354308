"""Cancelling a running job from its live page stops it and the page says so."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from playwright.async_api import expect

from tests.browser.conftest import login, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]


def _sleeper(owner) -> str:
    from jobs.services import job_create

    job = job_create(
        created_by=owner,
        name="sleeper",
        script="echo going to sleep; sleep 120; echo woke",
        schedule=None,
    )
    return str(job.id)


def _run_status(job_id: str) -> str:
    from runs.models import Run

    return Run.objects.get(job_id=job_id).status


async def test_it_cancels_a_running_job_from_the_viewer(live_server_url, chromium_browser, owner):
    job_id = await sync_to_async(_sleeper)(owner)
    context = await chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await login(page, live_server_url, owner.username)
    await page.goto(f"{live_server_url}/admin/jobs/job/{job_id}/change/")
    await page.click("[data-tf-run-now]")
    await expect(page.locator(".tf-line", has_text="going to sleep")).to_be_visible(timeout=30_000)
    await expect(page.locator("[data-tf-status]")).to_have_text("Running")
    await page.click("[data-tf-cancel]")
    await expect(page.locator(".messagelist .success")).to_contain_text("Cancel requested")
    await expect(page.locator("[data-tf-status]")).to_have_text("Cancelled", timeout=20_000)
    await expect(page.locator("[data-tf-cancel-form]")).to_be_hidden()
    await expect(page.locator(".tf-line", has_text="woke")).to_have_count(0)
    assert await sync_to_async(_run_status)(job_id) == "cancelled"
    await shot(page, "13-cancelled-run")
    await context.close()
