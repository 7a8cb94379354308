"""The connection goes to the vetted address while Host, SNI and the certificate check keep
the real name: a second DNS answer can never redirect the request."""

from __future__ import annotations

import ipaddress
import ssl
import subprocess

import pytest

from taskflow_site.lib import netguard
from tests.http.servers import LocalServer, Reply

LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.fixture
def resolver(monkeypatch):
    """A DNS edge we control: name -> list of answers, one list per lookup."""
    answers: dict[str, list[list]] = {}
    lookups: list[str] = []

    def resolve(host, port):
        lookups.append(host)
        queue = answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(netguard, "_resolve", resolve)
    return answers, lookups


def test_it_sends_the_real_host_name_to_the_pinned_address(local_server, resolver):
    answers, _ = resolver
    answers["svc.internal"] = [[LOOPBACK]]
    local_server.routes["/"] = Reply(200, b"ok")
    allowlist = netguard.Allowlist.from_entries(["svc.internal"])

    response = netguard.request(
        "GET", f"http://svc.internal:{local_server.port}/", allowlist=allowlist
    )

    assert response.status_code == 200
    assert local_server.requests[0].headers["Host"] == f"svc.internal:{local_server.port}"


def test_it_resolves_once_per_hop_so_rebinding_cannot_switch_the_target(resolver):
    answers, lookups = resolver
    # first answer public, every later one loopback: a classic rebinding name
    answers["rebind.example"] = [[ipaddress.ip_address("93.184.216.34")], [LOOPBACK]]
    target = netguard.target_vet("http://rebind.example/", allowlist=netguard.Allowlist())
    assert target.pinned_url == "http://93.184.216.34:80/"
    assert lookups == ["rebind.example"]
    with pytest.raises(netguard.Refused, match="loopback"):
        netguard.target_vet("http://rebind.example/", allowlist=netguard.Allowlist())


@pytest.fixture
def tls_files(tmp_path):
    def make(name: str):
        key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-subj",
                f"/CN={name}",
                "-addext",
                f"subjectAltName=DNS:{name}",
            ],
            check=True,
            capture_output=True,
        )
        return cert, key

    return make


@pytest.fixture
def tls_server(tls_files, monkeypatch):
    """An HTTPS server on 127.0.0.1 with a certificate for tls.test, trusted by netguard."""
    cert, key = tls_files("tls.test")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    seen_sni: list[str | None] = []
    server_context.sni_callback = lambda sock, name, ctx: seen_sni.append(name)
    client_context = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(netguard, "_tls_context", lambda: client_context)
    server = LocalServer(tls=server_context)
    server.seen_sni = seen_sni
    yield server
    server.stop()


def test_it_verifies_tls_against_the_name_while_connecting_to_the_ip(tls_server, resolver):
    answers, _ = resolver
    answers["tls.test"] = [[LOOPBACK]]
    tls_server.routes["/"] = Reply(200, b"secure")
    allowlist = netguard.Allowlist.from_entries(["tls.test"])

    response = netguard.request("GET", f"https://tls.test:{tls_server.port}/", allowlist=allowlist)

    assert response.body == b"secure"
    assert tls_server.seen_sni == ["tls.test"]


def test_it_refuses_a_certificate_for_another_name(tls_server, resolver):
    answers, _ = resolver
    answers["other.test"] = [[LOOPBACK]]
    allowlist = netguard.Allowlist.from_entries(["other.test"])
    with pytest.raises(netguard.NetguardError, match=r"CERTIFICATE_VERIFY_FAILED|hostname"):
        netguard.request("GET", f"https://other.test:{tls_server.port}/", allowlist=allowlist)
    assert tls_server.requests == []
