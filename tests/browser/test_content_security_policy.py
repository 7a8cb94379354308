"""In real Chromium, under the Content-Security-Policy: every page an admin opens — home, job
list, job page and editor, run page with its live log, metrics, the API docs — draws without a
single policy violation (no inline script anywhere, scripts only from our static files)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from tests.browser.conftest import login

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]


def _objects():
    from runs.services import run_enqueue
    from tests.factories import AdminFactory, JobFactory

    admin = AdminFactory(username="boss")
    job = JobFactory(name="csp-job", created_by=admin, script="echo hello; sleep 1")
    run, _ = run_enqueue(job=job, trigger_type="manual")
    return str(job.id), str(run.id)


async def test_no_page_violates_the_policy(live_server_url, chromium_browser):
    job_id, run_id = await sync_to_async(_objects)()
    page = await chromium_browser.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    await page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e =>"
        " console.error('Content Security Policy violation: ' + e.violatedDirective"
        " + ' ' + e.blockedURI));"
    )
    await login(page, live_server_url, "boss")
    for path in (
        "/admin/",
        "/admin/jobs/job/",
        f"/admin/jobs/job/{job_id}/",
        f"/admin/jobs/job/{job_id}/change/",
        f"/admin/runs/run/{run_id}/change/",
        "/admin/metrics/",
        "/admin/password_change/",
    ):
        response = await page.goto(f"{live_server_url}{path}")
        assert response.status == 200, path
        await page.wait_for_load_state("networkidle")
    await page.goto(f"{live_server_url}/api/docs/")
    await page.wait_for_selector("#swagger-ui .info", timeout=30_000)  # drawn by its script
    assert violations == []
