"""Who gets into the admin and which sections each role sees."""

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_lets_a_plain_user_into_the_admin_dashboard(owner_client):
    response = owner_client.get("/admin/")
    assert response.status_code == 200
    assert b"Recent runs" in response.content and b"Upcoming runs" in response.content


def test_it_refuses_an_inactive_user(client):
    user = UserFactory(username="gone", is_active=False)
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_refuses_a_user_without_staff_flag(client):
    client.force_login(UserFactory(username="nostaff", is_staff=False))
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/user/",
        "/admin/accounts/setting/",
        "/admin/notifications/smtpsettings/",
        "/admin/runs/workerheartbeat/",
        "/admin/metrics/metricsample/",
        "/admin/metrics/metricaggregate/",
    ],
)
def test_it_hides_users_settings_and_internals_from_users(owner_client, url):
    assert owner_client.get(url).status_code == 403


def test_it_leaves_users_and_settings_out_of_a_users_app_list(owner_client):
    apps = owner_client.get("/admin/").context["app_list"]
    models = {model["object_name"] for app in apps for model in app["models"]}
    assert {"Job", "Run"} <= models
    # jobs, runs, the (H6's, scoped) notification log, their own API tokens and the audit
    # entries about them: no users, settings, groups, task queue
    assert models <= {"Job", "Run", "Notification", "ApiToken", "AuditEntry"}


def test_it_gives_admins_users_and_settings(admin_client):
    assert admin_client.get("/admin/accounts/user/").status_code == 200
    assert admin_client.get("/admin/accounts/setting/").status_code == 200


def test_it_keeps_a_user_from_opening_another_users_account_page(owner_client, outsider):
    response = owner_client.get(f"/admin/accounts/user/{outsider.pk}/change/")
    assert response.status_code in (403, 404)


def test_it_creates_users_through_the_service_with_matching_flags(admin_client):
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "username": "newbie",
            "email": "n@example.com",
            "role": "admin",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    from accounts.models import User

    user = User.objects.get(username="newbie")
    assert user.is_staff and user.is_superuser and user.role == "admin"


def test_the_setup_page_renders_with_the_overridden_admin_base(client):
    response = client.get("/setup")
    assert response.status_code == 200
    assert b"taskflow/taskflow.css" in response.content
    assert b"tf-nav" not in response.content  # no navigation before anyone can log in
