"""In real Chromium, as a new user would: the fresh install leads to /setup; a job saved with the
editor's defaults never fires; the job page shows its last runs, durations, figures and next
runs, and Run now starts a run that appears, without a reload, on the job page, the home
timeline and the runs list; the metrics page counts a run that finished a minute ago; a plain
user's view of the same pages; the home and job pages at phone width. Screenshots land in
artifacts/screenshots/ (ui-*.png)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from playwright.async_api import expect

from tests.browser.conftest import PASSWORD, login, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# a few seconds of work that prints its progress
SCRIPT = r"""for i in 1 2 3 4; do
  echo "progress $((i * 25))%"
  sleep 1
done
"""
# (status, duration in s) of the seeded history, oldest first
HISTORY = [("success", 4), ("success", 5), ("failure", 2), ("success", 6), ("timeout", 30)]
HISTORY += [("success", 4), ("success", 7), ("success", 5), ("cancelled", 1), ("success", 6)]


def _seed() -> dict:
    """A plain user's hourly job with ten finished runs in the last hour, and another job
    whose only run finished a minute ago."""
    from jobs.services import job_create
    from metrics.models import MetricSample
    from runs.models import Run
    from tests.factories import RunFactory, UserFactory

    owner = UserFactory(username="olivia")
    job = job_create(
        created_by=owner,
        name="nightly-report",
        script=SCRIPT,
        timezone="America/New_York",
        schedule={"minutes": [7], "cron_expr": ""},
    )
    now = timezone.now()
    for index, (status, seconds) in enumerate(HISTORY):
        end = now - timedelta(minutes=50 - index * 4)
        run = RunFactory(
            job=job,
            status=status,
            started_at=end - timedelta(seconds=seconds),
            finished_at=end,
            duration_ms=seconds * 1000,
            exit_code=0 if status == "success" else 1,
        )
        Run.objects.filter(pk=run.pk).update(created_at=end - timedelta(seconds=seconds))
    quick = job_create(created_by=owner, name="minute-ago", script="true", schedule=None)
    end = now - timedelta(minutes=1)
    short = RunFactory(
        job=quick, status="success", started_at=end, finished_at=end, duration_ms=80, exit_code=0
    )
    sampled = job_create(created_by=owner, name="one-sample", script="true", schedule=None)
    once = RunFactory(
        job=sampled, status="success", started_at=end, finished_at=end, duration_ms=900
    )
    MetricSample.objects.create(
        run=once, timestamp=end, cpu_percent=42.0, memory_bytes=3 << 20, memory_percent=0.1
    )
    return {
        "job": str(job.id),
        "quick": str(quick.id),
        "short": str(short.id),
        "once": str(once.id),
    }


def _next_run_at(name: str):
    from jobs.models import Job

    return Job.objects.get(name=name).next_run_at


def _overflow_js() -> str:
    return "document.documentElement.scrollWidth - window.innerWidth"


async def on_screen(locator, width: int = 390) -> None:
    """Shown, and inside the phone's width (not in a part of a table scrolled out of view)."""
    await expect(locator).to_be_visible()
    box = await locator.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box


async def test_a_new_user_runs_and_watches_jobs_from_their_pages(live_server_url, chromium_browser):
    base = live_server_url
    browser = chromium_browser
    errors: list[str] = []

    def watch(page):
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        page.on(
            "console",
            lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None,
        )
        return page

    context = await browser.new_context(
        viewport={"width": 1366, "height": 900}, timezone_id="Europe/Berlin", locale="en-GB"
    )
    page = watch(await context.new_page())

    # -- a fresh install: the printed address and /admin/ both lead to /setup
    await page.goto(f"{base}/")
    await page.wait_for_url(f"{base}/setup")
    await page.goto(f"{base}/admin/")
    await page.wait_for_url(f"{base}/setup")
    await shot(page, "ui-01-setup")
    await page.fill("#id_username", "admin")
    await page.fill("#id_password", PASSWORD)
    await page.fill("#id_password_confirm", PASSWORD)
    await page.click("input[type=submit]")
    await page.wait_for_url(f"{base}/admin/")
    await expect(page.locator("[data-tf-dashboard] h1")).to_have_text("Home")

    # -- a job saved with the editor's defaults is manual-only: no next run
    await page.goto(f"{base}/admin/jobs/job/add/")
    await expect(page.locator("[data-tf-manual-note]")).to_be_visible()
    await expect(page.locator("#id_has_schedule")).not_to_be_checked()
    await page.fill("#id_name", "defaults-job")
    await page.fill("#id_script", "echo hi")
    await shot(page, "ui-02-editor-defaults")
    await page.click("input[name=_save]")
    await page.wait_for_url(re.compile(f"/admin/jobs/job/{UUID}/$"))
    await expect(page.locator("[data-tf-schedule-words]")).to_contain_text("Manual only")
    await expect(page.locator("[data-tf-next-runs]")).to_contain_text("None")
    assert await sync_to_async(_next_run_at)("defaults-job") is None
    admins_job_url = page.url

    # -- the editor: "Every minute" is an explicit preset; cron checked while typing, quietly;
    # every error in one round
    await page.goto(f"{base}/admin/jobs/job/add/")
    await page.click("[data-preset=minute]")
    await expect(page.locator("#id_has_schedule")).to_be_checked()
    await expect(page.locator("#id_cron_expr")).to_have_value("* * * * *")
    await expect(page.locator("[data-tf-preview] tr")).to_have_count(5)
    await page.fill("#id_cron_expr", "")
    await page.type("#id_cron_expr", "*/5 9-")
    await expect(page.locator("[data-tf-preview-errors]")).to_contain_text("5 fields")
    await page.type("#id_cron_expr", "17 * * 1-5")
    await expect(page.locator("[data-tf-preview] tr")).to_have_count(5)
    await page.fill("#id_working_dir", "relative/dir")
    await page.click("input[name=_save]")
    await expect(page.locator(".errornote")).to_be_visible()
    await expect(page.locator(".field-name .errorlist")).to_be_visible()
    await expect(page.locator(".field-working_dir .errorlist")).to_contain_text("absolute path")
    await expect(page.locator(".field-script .errorlist")).to_contain_text("needs a script")
    await shot(page, "ui-02b-editor-errors")

    # -- the job page: last runs, durations, figures, next runs in both zones
    seeded = await sync_to_async(_seed)()
    job_url = f"{base}/admin/jobs/job/{seeded['job']}/"
    await page.goto(f"{base}/admin/jobs/job/")
    await page.click("#result_list a:text-is('nightly-report')")
    await page.wait_for_url(job_url)
    job_page = page
    await expect(job_page.locator("[data-tf-strip] .tf-mark")).to_have_count(len(HISTORY))
    await expect(job_page.locator("[data-tf-last-status]")).to_have_text("Last run: Success")
    await expect(job_page.locator("[data-tf-schedule-words]")).to_contain_text("Every hour at :07")
    next_runs = job_page.locator("[data-tf-next-runs] tr")
    await expect(next_runs).to_have_count(5)
    await expect(next_runs.first.locator("td").first).to_contain_text(
        re.compile(r":07 (EST|EDT|GMT-[45])")
    )
    await expect(next_runs.first.locator("td").nth(1)).to_contain_text(re.compile(r"\d\d:07:00"))
    # 7 of 9 executed runs succeeded (the cancelled one is nobody's failure)
    await expect(job_page.locator("[data-tf-figure=successRate]")).to_have_text("77.8 %")
    await expect(job_page.locator("[data-tf-figure=p95Duration]")).to_have_text("30.0 s")
    await expect(job_page.locator("[data-tf-duration-chart] canvas")).to_be_visible()
    await expect(job_page.locator("[data-tf-history] tr")).to_have_count(len(HISTORY))
    await job_page.select_option("[data-tf-history-filters] select[name=status]", "failure,timeout")
    await expect(job_page.locator("[data-tf-history] tr")).to_have_count(2)
    await job_page.select_option("[data-tf-history-filters] select[name=status]", "")
    await expect(job_page.locator("[data-tf-history] tr")).to_have_count(len(HISTORY))
    await shot(job_page, "ui-03-job-page")

    # -- the home and the runs list, open in other tabs, live
    home = watch(await context.new_page())
    await home.goto(f"{base}/admin/")
    runs_list = watch(await context.new_page())
    await runs_list.goto(f"{base}/admin/runs/run/")
    for tab, root in (
        (job_page, "[data-tf-job]"),
        (home, "[data-tf-dashboard]"),
        (runs_list, "[data-tf-live-list]"),
    ):
        await expect(tab.locator(root)).to_have_attribute("data-tf-live-state", "on")
    await expect(
        home.locator(".tf-tl-row", has_text="nightly-report").locator(".tf-tl-mark")
    ).to_have_count(len(HISTORY))
    await expect(
        home.locator("[data-tf-upcoming] tr", has_text="nightly-report").first
    ).to_be_visible()

    # -- Run now: the run appears on all three without a reload
    await job_page.click("[data-tf-run-now]")
    await expect(job_page.locator("[data-tf-message]")).to_contain_text("Run queued")
    active = job_page.locator("[data-tf-active] .tf-active-run")
    await expect(active).to_have_count(1, timeout=15_000)
    run_id = await active.get_attribute("data-run-id")
    await expect(home.locator(f".tf-tl-mark[data-run-id='{run_id}']")).to_be_attached()
    await expect(runs_list.locator(f"#result_list a[href*='{run_id}']").first).to_be_visible()
    await expect(home.locator(f"[data-tf-active] [data-run-id='{run_id}']")).to_be_visible()
    await expect(job_page.locator("[data-tf-active] .tf-progress span")).to_have_text(
        re.compile(r"\d+ %"), timeout=15_000
    )
    await shot(job_page, "ui-04-job-page-running")
    await shot(home, "ui-05-home-running")
    await expect(job_page.locator("[data-tf-strip] .tf-mark")).to_have_count(
        len(HISTORY) + 1, timeout=30_000
    )
    await expect(job_page.locator("[data-tf-active] .tf-active-run")).to_have_count(0)
    await expect(
        job_page.locator(f"[data-tf-strip] .tf-mark[data-run-id='{run_id}']")
    ).to_have_attribute("data-status", "success")
    await expect(home.locator(f".tf-tl-mark[data-run-id='{run_id}']")).to_have_attribute(
        "data-status", "success"
    )
    await expect(
        runs_list.locator("#result_list tr", has=runs_list.locator(f"a[href*='{run_id}']")).locator(
            ".tf-badge"
        )
    ).to_have_text("Success")
    await shot(home, "ui-06-home")
    await shot(runs_list, "ui-07-runs-list")
    mark = home.locator(f".tf-tl-mark[data-run-id='{run_id}']")
    assert "nightly-report: Success" in (await mark.get_attribute("title"))
    await mark.click()
    await home.wait_for_url(re.compile(f"/admin/runs/run/{run_id}/change/$"))
    await expect(home.locator(".breadcrumbs")).to_contain_text("nightly-report")
    await expect(home.locator(".breadcrumbs")).not_to_contain_text("running")

    # -- the metrics page counts the run that finished a minute ago
    await page.goto(f"{base}/admin/metrics/?job={seeded['quick']}&range=7")
    await expect(page.locator(".tf-kpi", has_text="Runs").locator(".tf-kpi-value")).to_have_text(
        "1"
    )
    await expect(page.locator("[data-tf-drawn]")).to_have_count(5)
    await shot(page, "ui-08-metrics")
    await page.goto(f"{base}/admin/metrics/?job={seeded['quick']}&range=30")
    await expect(page.locator(".tf-kpi", has_text="Runs").locator(".tf-kpi-value")).to_have_text(
        "1"
    )
    # -- a run too short to sample says so; a single sample gets a sensible axis, not years
    await page.goto(f"{base}/admin/runs/run/{seeded['short']}/change/")
    await expect(page.locator("[data-tf-cpu-now]")).to_have_text("too short to sample")
    await page.goto(f"{base}/admin/runs/run/{seeded['once']}/change/")
    await expect(page.locator("[data-tf-viewer]")).to_have_attribute("data-tf-samples", "1")
    span = await page.evaluate("TFViewer.cpuChart.scales.x.max - TFViewer.cpuChart.scales.x.min")
    assert 0 < span <= 600, span
    await shot(page, "ui-08a-one-sample-run")
    await page.goto(f"{base}/admin/notifications/smtpsettings/")
    await expect(page.locator("#smtp-settings-form")).to_be_visible()
    await shot(page, "ui-08b-smtp-form")
    await context.close()

    # -- a plain user: their own job's pages, the reason they cannot create one
    user_context = await browser.new_context(
        viewport={"width": 1366, "height": 900}, timezone_id="America/New_York", locale="en-US"
    )
    user = watch(await user_context.new_page())
    await login(user, base, "olivia")
    await expect(user.locator(".tf-tl-row", has_text="nightly-report")).to_be_visible()
    await expect(user.locator(".tf-tl-row", has_text="defaults-job")).to_have_count(0)
    await shot(user, "ui-09-user-home")
    await user.goto(f"{base}/admin/jobs/job/")
    await expect(user.locator("[data-tf-no-add]")).to_contain_text(
        "Only administrators create jobs"
    )
    await expect(user.locator("#result_list", has_text="defaults-job")).to_have_count(0)
    await shot(user, "ui-10-user-jobs")
    await user.goto(job_url)
    await expect(user.locator("[data-tf-run-now]")).to_be_visible()
    await expect(user.locator("[data-tf-edit]")).to_be_visible()
    # en-US: the 12-hour clock (the viewer is in the job's zone: both columns agree)
    first_slot = user.locator("[data-tf-next-runs] tr").first.locator("td")
    await expect(first_slot.first).to_contain_text(re.compile(r":07:00 (AM|PM)"))
    await expect(first_slot.nth(1)).to_have_text(await first_slot.first.text_content())
    await shot(user, "ui-11-user-job-page")
    await user_context.close()
    forbidden = await browser.new_context()
    other = await forbidden.new_page()
    await login(other, base, "olivia")
    response = await other.goto(admins_job_url)
    assert response.status == 404
    await forbidden.close()

    # -- phone width: no sideways overflow; status, job and time stay visible
    phone = await browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        timezone_id="Asia/Tokyo",
    )
    mobile = watch(await phone.new_page())
    await login(mobile, base, "admin")
    await expect(mobile.locator(".tf-tl-row", has_text="nightly-report")).to_be_visible()
    failure = mobile.locator("[data-tf-failures] tr").first
    for cell in range(3):  # status, job, finished
        await on_screen(failure.locator("td").nth(cell))
    for cell in range(2):  # job, when
        await on_screen(mobile.locator("[data-tf-upcoming] tr").first.locator("td").nth(cell))
    assert await mobile.evaluate(_overflow_js()) <= 0
    await shot(mobile, "ui-12-phone-home")
    await mobile.goto(job_url)
    await expect(mobile.locator("[data-tf-strip] .tf-mark")).to_have_count(len(HISTORY) + 1)
    row = mobile.locator("[data-tf-history] tr").first
    for cell in (0, 1, 3):  # status, started, duration
        await on_screen(row.locator("td").nth(cell))
    assert await mobile.evaluate(_overflow_js()) <= 0
    await shot(mobile, "ui-13-phone-job-page")
    await mobile.goto(f"{base}/admin/runs/run/")
    first = mobile.locator("#result_list tbody tr").first
    for column in ("field-job_link", "field-status_link", "field-started"):
        await on_screen(first.locator(f".{column}"))
    await shot(mobile, "ui-14-phone-runs")
    await phone.close()

    assert errors == []
