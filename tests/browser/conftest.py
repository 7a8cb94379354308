"""Real Chromium (Debian's /usr/bin/chromium via Playwright) against real daphne + qcluster.

Screenshots go to artifacts/screenshots/ (gitignored). No sync pytest-playwright plugin: it
breaks async tests that run after it in the same process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT, child_env, free_port, wait_for_port

CHROMIUM = os.environ.get("TASKFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's


@pytest.fixture
def live_server_url(processes, transactional_db) -> str:
    """daphne (HTTP + WebSockets) and the cluster (executor, tick), on this test's database."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    port = free_port()
    env = child_env(TASKFLOW_METRICS_INTERVAL="0.5")
    web = processes.start(
        "daphne",
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "taskflow_site.asgi:application",
        ],
        env,
    )
    processes.manage("qcluster", "qcluster", env=env)
    wait_for_port(port, web)
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def chromium_browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def login(page, base: str, username: str) -> None:
    await page.goto(f"{base}/admin/login/?next=/admin/")
    await page.fill("#id_username", username)
    await page.fill("#id_password", PASSWORD)
    await page.click("input[type=submit]")
    await page.wait_for_url(f"{base}/admin/")
