"""netguard refuses private, loopback, link-local and encoded targets unless allowlisted."""

from __future__ import annotations

import ipaddress

import pytest

from accounts import services as account_services
from accounts.models import Setting
from taskflow_site.lib import netguard
from tests.http.servers import Reply

EMPTY = netguard.Allowlist()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.1.2.3/",
        "http://192.168.1.1:8080/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
    ],
)
def test_it_refuses_non_public_literal_addresses(url):
    with pytest.raises(netguard.Refused):
        netguard.target_vet(url, allowlist=EMPTY)


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1", "127.1", "0x7f.0.0.1"]
)
def test_it_refuses_encoded_ip_forms(host):
    with pytest.raises(netguard.Refused, match="encoded IP"):
        netguard.target_vet(f"http://{host}/", allowlist=EMPTY)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/"])
def test_it_refuses_other_schemes(url):
    with pytest.raises(netguard.Refused, match="scheme"):
        netguard.target_vet(url, allowlist=EMPTY)


def test_it_refuses_a_name_resolving_to_a_private_address():
    def resolve(host, port):
        return [ipaddress.ip_address("10.0.0.7")]

    with pytest.raises(netguard.Refused, match="private"):
        netguard.target_vet("http://internal.example.com/", allowlist=EMPTY, resolve=resolve)


def test_it_refuses_a_name_with_one_private_answer_among_public_ones():
    def resolve(host, port):
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("127.0.0.1")]

    with pytest.raises(netguard.Refused, match="loopback"):
        netguard.target_vet("http://rebind.example.com/", allowlist=EMPTY, resolve=resolve)


def test_it_pins_the_vetted_address_and_keeps_the_host_name():
    def resolve(host, port):
        return [ipaddress.ip_address("93.184.216.34")]

    target = netguard.target_vet("https://example.com/a?b=1", allowlist=EMPTY, resolve=resolve)
    assert target.pinned_url == "https://93.184.216.34:443/a?b=1"
    assert target.host_header == "example.com"


def test_it_admits_allowlisted_hosts_and_networks():
    by_network = netguard.Allowlist.from_entries(["10.0.0.0/8"])
    assert netguard.target_vet("http://10.2.3.4/", allowlist=by_network).ip.is_private

    def resolve(host, port):
        return [ipaddress.ip_address("192.168.5.5")]

    by_host = netguard.Allowlist.from_entries(["*.corp.example"])
    target = netguard.target_vet("http://ci.corp.example/", allowlist=by_host, resolve=resolve)
    assert str(target.ip) == "192.168.5.5"
    with pytest.raises(netguard.Refused):
        netguard.target_vet("http://corp.example.evil/", allowlist=by_host, resolve=resolve)


def test_it_refuses_loopback_requests_without_an_allowlist(db, local_server):
    local_server.routes["/"] = Reply(200, b"secret")
    with pytest.raises(netguard.Refused):
        netguard.request("GET", local_server.url("/"), allowlist=account_services.allowlist_load())
    assert local_server.requests == []


def test_it_reads_the_admin_allowlist_from_the_settings_table(db, local_server):
    local_server.routes["/"] = Reply(200, b"hello")
    account_services.allowlist_update(entries=["127.0.0.1"])
    assert Setting.objects.get(key="http_allowlist").value == {"entries": ["127.0.0.1/32"]}
    response = netguard.request(
        "GET", local_server.url("/"), allowlist=account_services.allowlist_load()
    )
    assert response.status_code == 200
    assert response.body == b"hello"


def test_it_rejects_a_bad_allowlist_entry(db):
    with pytest.raises(ValueError, match="neither"):
        account_services.allowlist_update(entries=["not a host!"])


def test_it_refuses_a_redirect_from_an_allowed_host_into_a_private_one(local_server):
    local_server.routes["/hop"] = Reply(302, headers={"Location": "http://169.254.169.254/x"})
    allowlist = netguard.Allowlist.from_entries(["127.0.0.1"])
    with pytest.raises(netguard.Refused, match="link-local"):
        netguard.request("GET", local_server.url("/hop"), allowlist=allowlist)


def test_it_refuses_a_redirect_to_an_encoded_loopback(local_server):
    local_server.routes["/hop"] = Reply(301, headers={"Location": "http://2130706433:1/"})
    allowlist = netguard.Allowlist.from_entries(["127.0.0.1"])
    with pytest.raises(netguard.Refused, match="encoded"):
        netguard.request("GET", local_server.url("/hop"), allowlist=allowlist)


def test_it_follows_allowed_redirects_and_stops_after_five(local_server):
    local_server.routes["/a"] = Reply(302, headers={"Location": "/b"})
    local_server.routes["/b"] = Reply(200, b"landed")
    local_server.routes["/loop"] = Reply(302, headers={"Location": "/loop"})
    allowlist = netguard.Allowlist.from_entries(["127.0.0.1"])
    response = netguard.request("GET", local_server.url("/a"), allowlist=allowlist)
    assert (response.status_code, response.body) == (200, b"landed")
    assert response.redirects == [(302, local_server.url("/b"))]
    with pytest.raises(netguard.Refused, match="redirects"):
        netguard.request("GET", local_server.url("/loop"), allowlist=allowlist)
    assert sum(1 for r in local_server.requests if r.path == "/loop") == 6


def test_it_caps_the_response_body(local_server):
    local_server.routes["/big"] = Reply(200, b"x" * 100_000)
    allowlist = netguard.Allowlist.from_entries(["127.0.0.1"])
    response = netguard.request("GET", local_server.url("/big"), allowlist=allowlist, max_body=1000)
    assert len(response.body) == 1000
    assert response.truncated


def test_it_times_out_a_server_that_never_answers(local_server):
    local_server.routes["/hang"] = Reply(hang=True)
    allowlist = netguard.Allowlist.from_entries(["127.0.0.1"])
    with pytest.raises(netguard.Timeout):
        netguard.request("GET", local_server.url("/hang"), allowlist=allowlist, timeout=0.5)


def test_it_drops_credentials_on_a_redirect_to_another_origin(local_server):
    other = type(local_server)()
    try:
        local_server.routes["/hop"] = Reply(302, headers={"Location": other.url("/land")})
        other.routes["/land"] = Reply(200, b"ok")
        allowlist = netguard.Allowlist.from_entries(["127.0.0.1"])
        netguard.request(
            "GET",
            local_server.url("/hop"),
            allowlist=allowlist,
            headers={"Authorization": "Bearer secret", "X-Trace": "1"},
        )
        assert local_server.requests[0].headers["Authorization"] == "Bearer secret"
        landed = other.requests[0].headers
        assert "Authorization" not in landed
        assert landed["X-Trace"] == "1"
    finally:
        other.stop()
