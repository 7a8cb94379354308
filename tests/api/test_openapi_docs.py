"""/api/schema/ (OpenAPI 3, envelope-aware) and the docs page from our own static files."""

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_the_schema_lists_every_documented_path(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = set(schema["paths"])
    for path in [
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/users",
        "/api/users/{id}",
        "/api/jobs",
        "/api/jobs/{id}",
        "/api/jobs/{id}/run",
        "/api/jobs/{id}/enable",
        "/api/jobs/{id}/disable",
        "/api/runs",
        "/api/runs/{id}",
        "/api/runs/{id}/cancel",
        "/api/runs/{id}/logs",
        "/api/jobs/{id}/metrics",
        "/api/runs/{id}/metrics",
        "/api/dashboard/stats",
        "/api/settings/smtp",
        "/api/settings/smtp/test",
        "/api/settings/timezone",
        "/api/timezones",
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/schedules",
        "/api/schedules/{id}",
        "/setup/status",
        "/setup/admin",
    ]:
        assert path in paths, path


def test_the_schema_documents_the_envelope_and_the_error_body(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    responses = schema["paths"]["/api/jobs"]["get"]["responses"]
    ok = responses["200"]["content"]["application/json"]["schema"]
    assert set(ok["properties"]) == {"data", "status"}
    error = responses["default"]["content"]["application/json"]["schema"]
    assert error["required"] == ["error", "code", "details"]


def test_the_docs_page_uses_vendored_swagger_ui_not_a_cdn(api):
    response = api.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    vendor = settings.BASE_DIR / "static" / "vendor" / "swagger-ui"
    assert (vendor / "LICENSE").is_file()
    assert (vendor / "swagger-ui-bundle.js").stat().st_size > 100_000


def test_the_vendored_files_are_served(client):
    response = client.get("/static/vendor/swagger-ui/swagger-ui.css")
    assert response.status_code == 200


def test_the_browsable_api_renders_for_a_signed_in_browser(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/jobs", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Job List" in response.content  # the view name in the page title
