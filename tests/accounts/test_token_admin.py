"""The admin pages for API tokens: create one (its secret shown on that page only), revoke,
and each user sees and creates only their own."""

import pytest
from django.urls import reverse

from accounts.models import ApiToken
from tests.support.clients import bearer

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:accounts_apitoken_changelist")
ADD_URL = reverse("admin:accounts_apitoken_add")


def test_a_user_creates_a_token_and_sees_its_secret_once(owner_client, owner):
    page = owner_client.post(
        ADD_URL, {"name": "laptop", "user": owner.pk, "scopes": ["read"], "expires_at": ""}
    )
    assert page.status_code == 200
    secret = page.context["secret"]
    assert secret.startswith("tf_") and secret in page.content.decode()
    token = ApiToken.objects.get(name="laptop")
    assert token.user == owner and token.scopes == ["read"]
    assert bearer(secret).get("/api/auth/me").json()["data"]["username"] == "owner"

    listing = owner_client.get(LIST_URL).content.decode()
    assert "laptop" in listing and token.prefix in listing and secret not in listing
    detail = owner_client.get(reverse("admin:accounts_apitoken_change", args=[token.pk]))
    assert secret not in detail.content.decode()


def test_a_user_cannot_create_a_token_for_someone_else_or_an_admin_scope(
    owner_client, outsider, owner
):
    page = owner_client.post(ADD_URL, {"name": "x", "user": outsider.pk, "scopes": ["read"]})
    assert "user" in page.context["adminform"].form.errors
    page = owner_client.post(ADD_URL, {"name": "x", "user": owner.pk, "scopes": ["admin"]})
    assert "scopes" in page.context["adminform"].form.errors
    assert not ApiToken.objects.exists()


def test_an_admin_creates_tokens_for_anyone_and_revokes_them(admin_client, outsider):
    page = admin_client.post(ADD_URL, {"name": "ci", "user": outsider.pk, "scopes": []})
    secret = page.context["secret"]
    token = ApiToken.objects.get(name="ci")
    assert token.user == outsider and token.scopes == ["read", "run", "write"]

    admin_client.post(LIST_URL, {"action": "revoke_tokens", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert bearer(secret).get("/api/auth/me").status_code == 401


def test_users_see_only_their_own_tokens(owner_client, outsider_client, outsider):
    outsider_client.post(ADD_URL, {"name": "theirs", "user": outsider.pk, "scopes": ["read"]})
    listing = owner_client.get(LIST_URL)
    assert list(listing.context["cl"].result_list) == []
    token = ApiToken.objects.get(name="theirs")
    assert (
        owner_client.get(reverse("admin:accounts_apitoken_change", args=[token.pk])).status_code
        == 404
    )
