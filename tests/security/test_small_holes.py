"""Smaller holes: usernames unique whatever their case, e-mail checked on update, one-line job
names, the HTTP allowlist by host:port with TaskFlow's own listener never a target unless listed
so, and neither simplejwt's token tables nor django-q2's Schedule in the admin."""

from __future__ import annotations

import ipaddress

import pytest
from django.core.exceptions import ValidationError

from accounts.services import allowlist_load, user_create, user_update
from taskflow_site.lib import netguard

pytestmark = pytest.mark.django_db


def test_usernames_are_unique_whatever_their_case(admin_api, owner):
    response = admin_api.post(
        "/api/users", {"username": "OWNER", "password": "a-long-pass-phrase-1"}, format="json"
    )
    assert response.status_code == 409
    with pytest.raises(ValidationError):
        user_create(username="Owner", password="a-long-pass-phrase-1")


def test_a_user_cannot_be_renamed_to_another_users_name_in_other_case(admin_api, owner, outsider):
    response = admin_api.patch(f"/api/users/{outsider.pk}", {"username": "Owner"}, format="json")
    assert response.status_code == 409
    outsider.refresh_from_db()
    assert outsider.username == "outsider"


def test_an_e_mail_address_is_checked_on_update_too(admin_api, owner):
    long_address = "a" * 300 + "@x.example"  # 310 characters
    for address in (long_address, "not-an-address"):
        response = admin_api.patch(f"/api/users/{owner.pk}", {"email": address}, format="json")
        assert response.status_code == 400, address
        assert "email" in response.json()["details"]
    with pytest.raises(ValidationError):
        user_update(user=owner, email=long_address)
    owner.refresh_from_db()
    assert owner.email == "owner@example.com"


@pytest.mark.parametrize("name", ["two\nlines", "carriage\rreturn", "nul\x00"])
def test_a_job_name_is_one_line(admin_api, owner_job, name):
    response = admin_api.patch(f"/api/jobs/{owner_job.id}", {"name": name}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["details"]


def _vet(url: str, entries, *, own=()):
    return netguard.target_vet(
        url,
        allowlist=netguard.Allowlist.from_entries(entries, own=own),
        resolve=lambda host, port: [ipaddress.ip_address("10.0.0.7")],
    )


def test_an_allowlist_entry_with_a_port_allows_that_port_only():
    assert _vet("http://svc.internal:8443/", ["svc.internal:8443"]).port == 8443
    with pytest.raises(netguard.Refused):
        _vet("http://svc.internal:22/", ["svc.internal:8443"])
    assert _vet("http://10.0.0.7:9000/", ["10.0.0.0/8:9000"]).port == 9000
    with pytest.raises(netguard.Refused):
        _vet("http://10.0.0.7:9001/", ["10.0.0.0/8:9000"])
    assert _vet("http://svc.internal:22/", ["svc.internal"]).port == 22  # no port: any


def test_allowlist_entries_with_ports_are_validated_and_kept():
    assert netguard.allowlist_entry_validate("Svc.Internal:8443") == "svc.internal:8443"
    assert netguard.allowlist_entry_validate("10.0.0.5:80") == "10.0.0.5:80"
    assert netguard.allowlist_entry_validate("[fd00::1]:443") == "[fd00::1]:443"
    assert netguard.allowlist_entry_validate("10.0.0.0/8") == "10.0.0.0/8"
    for bad in ("svc:0", "svc:99999", "svc:http"):
        with pytest.raises(ValueError):
            netguard.allowlist_entry_validate(bad)


def test_taskflows_own_listener_is_never_a_target_unless_listed_with_its_port():
    own = netguard.listener_networks("127.0.0.1", 8080)
    allowlist = netguard.Allowlist.from_entries(["127.0.0.1"], own=own)
    with pytest.raises(netguard.Refused, match="TaskFlow's own listener"):
        netguard.target_vet("http://127.0.0.1:8080/api/users", allowlist=allowlist)
    assert netguard.target_vet("http://127.0.0.1:9000/", allowlist=allowlist).port == 9000
    listed = netguard.Allowlist.from_entries(["127.0.0.1:8080"], own=own)
    assert netguard.target_vet("http://127.0.0.1:8080/health", allowlist=listed).port == 8080


def test_a_wildcard_listener_covers_every_local_address():
    own = netguard.listener_networks("0.0.0.0", 8080)
    allowlist = netguard.Allowlist.from_entries(["0.0.0.0/0", "::/0"], own=own)
    for url in ("http://127.0.0.1:8080/", "http://127.9.9.9:8080/", "http://[::1]:8080/"):
        with pytest.raises(netguard.Refused):
            netguard.target_vet(url, allowlist=allowlist)


def test_the_server_allowlist_knows_its_own_listener(settings):
    settings.TASKFLOW = {**settings.TASKFLOW, "HTTP_ALLOWLIST": ["127.0.0.1"]}
    url = f"http://127.0.0.1:{settings.CONFIG.port}/api/users"
    with pytest.raises(netguard.Refused):
        netguard.target_vet(url, allowlist=allowlist_load())


@pytest.mark.parametrize(
    "url",
    [
        "/admin/token_blacklist/outstandingtoken/",
        "/admin/token_blacklist/blacklistedtoken/",
        "/admin/django_q/schedule/",
        "/admin/django_q/schedule/add/",
    ],
)
def test_token_tables_and_django_q_schedules_are_not_in_the_admin(admin_client, url):
    assert admin_client.get(url).status_code == 404
