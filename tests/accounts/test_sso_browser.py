"""Single sign-on end to end in real Chromium: daphne against a real OpenID provider
(oidc-provider-mock) started on loopback by the test and stopped by PID. Users are created on
first sign-in with the role their groups map to; SSO-only mode leaves only the SSO button."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
from asgiref.sync import sync_to_async
from playwright.async_api import expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, shot
from tests.support.clients import PASSWORD
from tests.support.processes import child_env, free_port, wait_for_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

ALICE = {
    "sub": "alice-sub",
    "email": "alice@example.com",
    "preferred_username": "alice",
    "groups": ["staff", "taskflow-admins"],
}
BOB = {"sub": "bob-sub", "email": "bob@example.com", "preferred_username": "bob"}


@pytest.fixture
async def chromium():
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def provider(processes) -> str:
    port = free_port()
    argv = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--user-claims", json.dumps(ALICE)]
    argv += ["--user-claims", json.dumps(BOB)]
    proc = processes.start("oidc-provider", argv)
    wait_for_port(port, proc)
    return f"http://127.0.0.1:{port}"


def start_taskflow(processes, issuer: str, **extra: str) -> str:
    port = free_port()
    env = child_env(
        TASKFLOW_OIDC_ISSUER=issuer,
        TASKFLOW_OIDC_CLIENT_ID="taskflow",
        TASKFLOW_OIDC_CLIENT_SECRET="taskflow-client-secret",
        TASKFLOW_OIDC_ADMIN_CLAIM="groups",
        TASKFLOW_OIDC_ADMIN_VALUES="taskflow-admins",
        **extra,
    )
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    proc = processes.start(f"daphne-{port}", [*argv, "taskflow_site.asgi:application"], env)
    wait_for_port(port, proc)
    return f"http://127.0.0.1:{port}"


def _user(email: str) -> dict | None:
    from accounts.models import User

    user = User.objects.filter(email=email).first()
    if user is None:
        return None
    return {"username": user.username, "role": user.role, "password": user.has_usable_password()}


def _sso_logins() -> list[tuple[str, str]]:
    from accounts.models import AuditEntry

    rows = AuditEntry.objects.filter(action="login", surface="sso").order_by("at")
    return [(entry.actor_name, entry.ip) for entry in rows]


def _existing_user() -> None:
    from tests.factories import UserFactory

    UserFactory(username="carol")


async def sign_in(browser, base: str, provider: str, sub: str):
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{base}/admin/login/?next=/admin/")
    await page.click("#sso-login")
    await page.wait_for_url(f"{provider}/oauth2/authorize*")
    await page.click(f'button[name=sub][value="{sub}"]')
    await page.wait_for_url(f"{base}/admin/")
    return page


async def test_sso_sign_in_creates_users_with_the_role_their_groups_map_to(
    processes, provider, chromium
):
    base = await sync_to_async(start_taskflow)(processes, provider)

    page = await chromium.new_page()
    await page.goto(f"{base}/admin/login/")
    await expect(page.locator("#id_password")).to_be_visible()  # beside the password form
    await expect(page.locator("#sso-login")).to_have_text("Sign in with single sign-on")
    await shot(page, "sso-login-page")

    alice = await sign_in(chromium, base, provider, "alice-sub")
    await expect(alice.locator("#user-tools")).to_contain_text("alice")
    await shot(alice, "sso-signed-in-admin")
    assert await sync_to_async(_user)("alice@example.com") == {
        "username": "alice",
        "role": "admin",
        "password": False,
    }
    await alice.goto(f"{base}/admin/accounts/user/")  # admins manage users
    await expect(alice.locator("#result_list")).to_contain_text("alice")

    bob = await sign_in(chromium, base, provider, "bob-sub")
    assert (await sync_to_async(_user)("bob@example.com"))["role"] == "user"
    response = await bob.goto(f"{base}/admin/accounts/user/")
    assert response.status == 403  # a user never sees the users page

    # signing in again finds the same account (matched by e-mail), no duplicate
    await sign_in(chromium, base, provider, "alice-sub")
    logins = await sync_to_async(_sso_logins)()
    assert [name for name, _ in logins] == ["alice", "bob", "alice"]
    assert all(ip == "127.0.0.1" for _, ip in logins)


async def test_sso_only_mode_offers_only_the_button_and_refuses_passwords(
    processes, provider, chromium
):
    await sync_to_async(_existing_user)()
    base = await sync_to_async(start_taskflow)(processes, provider, TASKFLOW_OIDC_SSO_ONLY="1")

    page = await chromium.new_page()
    await page.goto(f"{base}/admin/login/")
    await expect(page.locator("#sso-login")).to_be_visible()
    await expect(page.locator("#id_password")).to_have_count(0)
    await expect(page.locator("#sso-only-note")).to_contain_text("Password sign-in is turned off")
    await shot(page, "sso-only-login-page")

    async with httpx.AsyncClient(base_url=base) as client:
        refused = await client.post(
            "/api/auth/login", json={"username": "carol", "password": PASSWORD}
        )
    assert refused.status_code == 403
    assert "single sign-on" in refused.json()["error"]

    bob = await sign_in(chromium, base, provider, "bob-sub")
    await expect(bob.locator("#user-tools")).to_contain_text("bob")
