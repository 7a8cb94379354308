"""In real Chromium, as a new user would: declare a parameter and a follow-up in the editor's
tables, press Run now on the job page, fill the form (a value the server refuses first, shown
beside its input), open the run: its values with the secret masked, the log with the value the
script saw, and, once it succeeded, the follow-up it started, which names where it came from.
Screenshots land in artifacts/screenshots/ (h6-*.png)."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from playwright.async_api import expect

from tests.browser.conftest import login, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SCRIPT = 'echo "to $TASKFLOW_PARAM_TARGET x$TASKFLOW_PARAM_COUNT with $TASKFLOW_PARAM_TOKEN"\n'
SECRET = "s3cret-value-42"


def _seed() -> dict:
    from jobs.services import job_create
    from tests.factories import AdminFactory

    admin = AdminFactory(username="ada")
    deploy = job_create(
        created_by=admin,
        name="deploy",
        script=SCRIPT,
        params=[
            {
                "name": "TARGET",
                "type": "choice",
                "choices": ["staging", "production"],
                "default": "staging",
                "help": "Where the release goes",
            },
            {"name": "TOKEN", "type": "string", "secret": True},
        ],
    )
    notify = job_create(created_by=admin, name="notify", script="echo told")
    return {"deploy": str(deploy.pk), "notify": str(notify.pk)}


def _runs() -> list[dict]:
    from runs.models import Run

    return list(Run.objects.values("id", "job__name", "params", "chained_from_id"))


async def test_run_parameters_and_a_chain_from_the_pages(live_server_url, chromium_browser):
    base = live_server_url
    seeded = await sync_to_async(_seed)()
    errors: list[str] = []
    context = await chromium_browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    await login(page, base, "ada")

    # -- the editor: one more parameter (a new row) and a follow-up, in the tables
    await page.goto(f"{base}/admin/jobs/job/{seeded['deploy']}/change/")
    params = page.locator("[data-tf-rows=params_table]")
    await expect(params.locator("tbody [data-tf-row]")).to_have_count(3)  # 2 saved + 1 blank
    await expect(params.locator("input[name='params_table-0-choices']")).to_be_visible()
    # a text parameter has no choices to fill in
    await expect(params.locator("input[name='params_table-1-choices']")).to_be_hidden()
    await params.locator("[data-tf-add-row]").click()
    await expect(params.locator("tbody [data-tf-row]")).to_have_count(4)
    await params.locator("input[name='params_table-3-name']").fill("count")
    await params.locator("select[name='params_table-3-type']").select_option("integer")
    await expect(params.locator("input[name='params_table-3-default']")).to_have_attribute(
        "placeholder", "e.g. 10"
    )
    await params.locator("input[name='params_table-3-default']").fill("two")
    followups = page.locator("[data-tf-rows=followups]")
    await followups.locator("select[name='followups-0-job']").select_option(label="notify")
    await followups.locator("select[name='followups-0-on']").select_option("success")
    await page.click("input[name=_continue]")
    # the rules' message on its row, the rest kept as typed
    await expect(params.locator(".tf-row-errors")).to_contain_text("COUNT: the default must be")
    count_row = params.locator("tbody tr.tf-row-invalid")  # the blank row between is gone
    await expect(count_row.locator("input[name$='-name']")).to_have_value("COUNT")
    await expect(count_row.locator("input[name$='-default']")).to_have_value("two")
    await shot(page, "h6-01-editor-row-error")
    await count_row.locator("input[name$='-default']").fill("2")
    await page.click("input[name=_save]")
    await page.wait_for_url(f"{base}/admin/jobs/job/{seeded['deploy']}/")

    # -- the job page: its parameters and chain; Run now asks for values
    chain = page.locator("[data-tf-chain]")
    await expect(chain.locator("[data-tf-params-list] tbody tr")).to_have_count(3)
    await expect(chain.locator("[data-tf-followups]")).to_contain_text("On success → notify")
    await page.click("[data-tf-run-open]")
    dialog = page.locator("[data-tf-run-dialog]")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("select[name=TARGET]")).to_have_value("staging")
    await expect(dialog.locator("input[name=COUNT]")).to_have_value("2")
    await expect(dialog.locator("input[name=TOKEN]")).to_have_attribute("type", "password")
    await expect(dialog).to_contain_text("Where the release goes")
    await dialog.locator("select[name=TARGET]").select_option("production")
    await dialog.locator("input[name=TOKEN]").fill(SECRET)
    await dialog.locator("input[name=COUNT]").fill("99999999999999999999")
    await shot(page, "h6-02-run-form")
    await dialog.locator("[data-tf-run-submit]").click()
    await expect(dialog.locator("[data-tf-param-errors=COUNT]")).to_contain_text("out of range")
    await expect(dialog.locator("[data-tf-param-errors=TARGET]")).to_be_hidden()
    await shot(page, "h6-03-run-form-error")
    assert await sync_to_async(_runs)() == []
    await dialog.locator("input[name=COUNT]").fill("5")
    await dialog.locator("[data-tf-run-submit]").click()
    await expect(dialog).to_be_hidden()
    message = page.locator("[data-tf-message]")
    await expect(message).to_contain_text("Run queued with your values")

    # -- the run page: the values (the secret masked), the log, then the follow-up it started
    await message.locator("a").click()
    await page.wait_for_url(re.compile(f"/admin/runs/run/{UUID}/change/$"))
    values = page.locator("[data-tf-run-params-list]")
    await expect(values.locator("tr[data-param=TARGET] td")).to_have_text("production")
    await expect(values.locator("tr[data-param=COUNT] td")).to_have_text("5")
    await expect(values.locator("tr[data-param=TOKEN] td")).to_have_text("********")
    await expect(page.locator("[data-tf-status]")).to_have_text("Success", timeout=60_000)
    await expect(page.locator("[data-tf-log]")).to_contain_text("to production x5 with")
    await expect(page.locator("[data-tf-chained-runs]")).to_contain_text("notify", timeout=30_000)
    assert SECRET not in await page.content()
    await shot(page, "h6-04-run-page")
    parent_url = page.url
    await page.locator("[data-tf-chained-runs] a").click()
    await page.wait_for_url(re.compile(f"/admin/runs/run/{UUID}/change/$"))
    await expect(page.locator("[data-tf-chained-from] a").first).to_have_attribute(
        "href", parent_url.removeprefix(base)
    )
    await expect(page.locator("[data-tf-chained-from]")).to_contain_text("of deploy")
    await shot(page, "h6-05-follow-up-run")

    runs = await sync_to_async(_runs)()
    deploy_run = next(r for r in runs if r["job__name"] == "deploy")
    assert deploy_run["params"]["TARGET"] == "production" and deploy_run["params"]["COUNT"] == 5
    assert SECRET not in str(deploy_run["params"])  # sealed at rest
    notify_run = next(r for r in runs if r["job__name"] == "notify")
    assert notify_run["chained_from_id"] == deploy_run["id"]
    # the console's one complaint is the refused value's 400
    assert [e for e in errors if "status of 400" not in e] == [], errors
    await context.close()
