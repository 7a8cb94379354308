"""In real Chromium: an admin builds a job with the grid, runs it and watches it live; a user
cannot see it; the metrics page draws its charts. Screenshots land in artifacts/screenshots/."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from playwright.async_api import expect

from tests.browser.conftest import login, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

# ~5 s of busy work (so CPU samples exist), progress lines, stderr and an ANSI colour
SCRIPT = r"""for i in 1 2 3 4 5; do
  echo "step $i of 5: $((i * 20))%"
  echo "note $i on stderr" >&2
  end=$((SECONDS + 1)); while [ $SECONDS -lt $end ]; do :; done
done
printf '\033[32mall green\033[0m and \033[1;31mbold red\033[0m\n'
"""


def _job_state(name: str) -> dict:
    from jobs.models import Job

    job = Job.objects.select_related("schedule", "created_by").get(name=name)
    return {
        "id": str(job.id),
        "owner": job.created_by.username,
        "hours": job.schedule.hours,
        "minutes": job.schedule.minutes,
        "timezone": job.timezone,
        "next_run_at": job.next_run_at,
    }


def _next_berlin_minute(*minutes: int) -> int:
    """Which of 03:<minutes> Berlin time comes next from now (the preview's first row)."""
    now = timezone.now().astimezone(ZoneInfo("Europe/Berlin"))
    upcoming = [m for m in minutes if (now.hour, now.minute) < (3, m)]
    return upcoming[0] if upcoming else minutes[0]  # else tomorrow's first


def _own_job(owner) -> None:
    from tests.factories import JobFactory

    JobFactory(name="owners-own-job", created_by=owner)


def _seed_rollups(job_id: str) -> None:
    """A week of hourly history for the charts, plus the real run's hour rolled up for real."""
    from metrics.models import MetricAggregate, PeriodType
    from metrics.rollups import rollup_period

    rng = random.Random(7)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    rows = []
    for hours_back in range(1, 7 * 24, 3):
        runs = rng.randint(1, 6)
        failures = rng.choice([0, 0, 0, 1])
        rows.append(
            MetricAggregate(
                job_id=job_id,
                period_type=PeriodType.HOURLY,
                period_start=now - timedelta(hours=hours_back),
                run_count=runs,
                success_count=runs - failures,
                failure_count=failures,
                avg_duration_ms=rng.randint(2000, 9000),
                max_duration_ms=12000,
                avg_cpu_percent=rng.uniform(20, 90),
                max_cpu_percent=rng.uniform(90, 100),
                avg_memory_bytes=rng.randint(3, 40) << 20,
                max_memory_bytes=64 << 20,
            )
        )
    MetricAggregate.objects.bulk_create(rows)
    rollup_period(period_type=PeriodType.HOURLY, period_start=timezone.now())


async def test_it_builds_runs_and_watches_a_job_then_hides_it_from_others(
    live_server_url, chromium_browser, admin_user, owner
):
    base = live_server_url
    browser = chromium_browser
    errors: list[str] = []
    context = await browser.new_context(
        viewport={"width": 1366, "height": 900}, timezone_id="America/New_York", locale="en-GB"
    )
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # -- the home is the first page after login
    await login(page, base, "admin")
    await expect(page.locator("[data-kpi=activeJobs]")).to_have_text("0")
    await expect(page.locator("[data-tf-browser-zone]").first).to_have_text("America/New_York")
    await shot(page, "01-dashboard-before")

    # -- the job editor: grid clicks, live preview in both zones
    await page.goto(f"{base}/admin/jobs/job/add/")
    await page.fill("#id_name", "browser-job")
    await page.fill("#id_script", SCRIPT)
    await page.fill("#id_timezone", "Europe/Berlin")
    await page.click(".tf-grid[data-field=hours] .tf-cell[data-value='3']")
    await page.click(".tf-grid[data-field=minutes] .tf-cell[data-value='15']")
    await page.click(".tf-grid[data-field=minutes] .tf-cell[data-value='45']")
    await expect(page.locator(".tf-grid[data-field=hours] .tf-any")).to_have_attribute(
        "aria-pressed", "false"
    )
    preview = page.locator("[data-tf-preview] tr")
    await expect(preview).to_have_count(5)
    # the next fire is 03:15 or 03:45 Berlin time, whichever comes first from now: 21:15/21:45
    # or 22:15/22:45 the evening before in New York
    first = _next_berlin_minute(15, 45)
    await expect(preview.first.locator("td").first).to_contain_text(f"03:{first}")
    await expect(preview.first.locator("td").nth(1)).to_contain_text(re.compile(f"2[12]:{first}"))
    await expect(page.locator("fieldset.tf-kind-http")).to_be_hidden()
    await shot(page, "02-job-editor")
    await page.click("input[name=_continue]")
    await expect(page.locator(".messagelist .success")).to_be_visible()
    state = await sync_to_async(_job_state)("browser-job")
    assert state["hours"] == [3] and state["minutes"] == [15, 45]
    assert state["timezone"] == "Europe/Berlin" and state["owner"] == "admin"
    assert state["next_run_at"] is not None

    # -- a dashboard left open in another tab, to see it update by itself
    dashboard = await context.new_page()
    dashboard.on("pageerror", lambda exc: errors.append(str(exc)))
    await dashboard.goto(f"{base}/admin/")
    await expect(dashboard.locator("[data-tf-timeline]")).to_contain_text("No runs in the last 24")

    # -- run it and watch it live: lines while running, a CPU sample, then success
    await page.click("[data-tf-run-now]")
    await page.wait_for_url(re.compile(r"/admin/runs/run/[0-9a-f-]+/change/$"))
    run_url = page.url
    await expect(page.locator(".tf-line", has_text="step 1 of 5")).to_be_visible(timeout=30_000)
    await expect(page.locator("[data-tf-status]")).to_have_text("Running")
    await expect(page.locator("[data-tf-viewer]")).to_have_attribute(
        "data-tf-samples", re.compile(r"^[1-9]"), timeout=30_000
    )
    await expect(page.locator("[data-tf-chart=cpu] canvas")).to_be_visible()
    await expect(page.locator("[data-tf-progress]")).to_be_visible()
    await expect(page.locator("[data-tf-status]")).to_have_text("Success", timeout=60_000)
    await expect(page.locator(".tf-line.tf-stream-stderr").first).to_contain_text("on stderr")
    await expect(page.locator(".tf-line .tf-fg2", has_text="all green")).to_be_visible()
    await expect(page.locator(".tf-line .tf-fg1.tf-b", has_text="bold red")).to_be_visible()
    await expect(page.locator("[data-tf-progress-text]")).to_have_text("100 %")
    await expect(page.locator("[data-tf-rerun-form]")).to_be_visible()
    await shot(page, "03-run-live-viewer")

    # -- the open dashboard caught up without a reload; a fresh one shows the same
    await expect(
        dashboard.locator(".tf-tl-row", has_text="browser-job").locator(
            ".tf-tl-mark[data-status=success]"
        )
    ).to_be_attached(timeout=15_000)
    await expect(dashboard.locator("[data-tf-live]")).to_have_class("tf-dot tf-dot-on")
    await dashboard.close()
    await page.goto(f"{base}/admin/")
    row = page.locator(".tf-tl-row", has_text="browser-job")
    await expect(row.locator(".tf-tl-mark[data-status=success]")).to_be_attached()
    await expect(page.locator("[data-kpi=activeJobs]")).to_have_text("1")
    await expect(
        page.locator("[data-tf-upcoming] tr", has_text="browser-job").first
    ).to_be_visible()
    await shot(page, "04-dashboard-after")

    # -- job and run lists
    await page.goto(f"{base}/admin/jobs/job/")
    await expect(page.locator("#result_list", has_text="browser-job")).to_be_visible()
    await shot(page, "05-job-list")
    await page.goto(f"{base}/admin/runs/run/")
    await expect(page.locator("#result_list .tf-badge.tf-success")).to_be_visible()
    await shot(page, "06-run-list")

    # -- metrics draw their charts
    await sync_to_async(_seed_rollups)(state["id"])
    await page.goto(f"{base}/admin/metrics/?job={state['id']}&range=7")
    await expect(page.locator("[data-tf-drawn]")).to_have_count(5)
    await expect(page.locator(".tf-chart canvas")).to_have_count(5)
    await shot(page, "07-metrics")

    # -- on a phone
    phone = await browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        timezone_id="Asia/Tokyo",
    )
    phone_page = await phone.new_page()
    phone_page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(phone_page, base, "admin")
    await expect(phone_page.locator(".tf-tl-row", has_text="browser-job")).to_be_visible()
    await shot(phone_page, "08-phone-dashboard")
    await phone_page.goto(run_url)
    await expect(phone_page.locator(".tf-line", has_text="all green")).to_be_visible(timeout=15_000)
    await shot(phone_page, "09-phone-run")
    await phone_page.goto(f"{base}/admin/jobs/job/{state['id']}/change/")
    await expect(phone_page.locator("[data-tf-preview] tr")).to_have_count(5)
    await shot(phone_page, "10-phone-job-editor")
    await phone.close()

    # -- a plain user: their own job is listed, the admin's is absent and its URL a 404
    await sync_to_async(_own_job)(owner)
    user_context = await browser.new_context(viewport={"width": 1366, "height": 900})
    user_page = await user_context.new_page()
    user_page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(user_page, base, owner.username)
    await user_page.goto(f"{base}/admin/jobs/job/")
    await expect(user_page.locator("#changelist")).to_be_visible()
    await expect(user_page.locator("#result_list", has_text="owners-own-job")).to_be_visible()
    await expect(user_page.get_by_text("browser-job")).to_have_count(0)
    await expect(user_page.locator("a[href$='/admin/jobs/job/add/']")).to_have_count(0)
    await shot(user_page, "11-user-job-list")
    response = await user_page.goto(f"{base}/admin/jobs/job/{state['id']}/change/")
    assert response.status == 404
    response = await user_page.goto(run_url)
    assert response.status == 404
    response = await user_page.goto(f"{base}/admin/accounts/user/")
    assert response.status == 403
    await user_context.close()
    await context.close()

    assert errors == []
