"""SSRF-safe outbound HTTP for HTTP jobs and webhooks (docs/scenarios.md, E11).

Every hop is vetted: the host is resolved once, each address must be public unless the host or
the address is on the allowlist, and the connection goes to that vetted address (Host header and
TLS SNI/certificate check keep the real name), so a DNS answer that changes between check and
connect cannot redirect us. Redirects are followed by hand, each target vetted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import psutil

if TYPE_CHECKING:
    import httpx

# httpx logs every request URL at INFO; webhook URLs often carry a token in the path.
logging.getLogger("httpx").setLevel(logging.WARNING)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 5
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_TIMEOUT = 30.0
ALLOWED_SCHEMES = {"http", "https"}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REDIRECT_CODES = {301, 302, 303, 307, 308}
# Hop-specific or credential headers never carried to another origin on a redirect.
_CROSS_ORIGIN_DROP = {"authorization", "cookie", "proxy-authorization"}


class NetguardError(Exception):
    """A request that did not complete (refused target, network error, timeout)."""


class Refused(NetguardError):
    """The target is not allowed: bad scheme, private address, encoded IP, too many redirects."""


class Timeout(NetguardError):
    """The request ran past its timeout or deadline."""


def _entry_parts(entry: str) -> tuple[str, int | None]:
    """An allowlist entry as (host or network, port or None): `name`, `name:443`, `10.0.0.0/8`,
    `10.0.0.5:8443`, `[fd00::1]:8443` (a bare IPv6 address takes no port)."""
    value = str(entry).strip().lower()
    if value.startswith("[") and "]:" in value:
        host, _, port = value[1:].partition("]:")
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    else:
        return value.strip("[]"), None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{entry!r}: the port must be 1-65535")
    return host, int(port)


@dataclass(frozen=True)
class Allowlist:
    """Host names (exact, or `*.example.com` for subdomains) and IP networks that may be reached
    even though they are private, each on any port or on the one it names (`host:port`).

    `own` is TaskFlow's own listener (networks and port): never a target — a job must not
    drive this server's API from inside it — unless an entry names that host:port itself."""

    hosts: frozenset[tuple[str, int | None]] = frozenset()
    networks: tuple[tuple[IPNetwork, int | None], ...] = ()
    own: tuple[tuple[IPNetwork, int], ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[str], *, own=()) -> Allowlist:
        hosts, networks = set(), []
        for raw in entries:
            if not str(raw).strip():
                continue
            host, port = _entry_parts(raw)
            try:
                networks.append((ipaddress.ip_network(host, strict=False), port))
            except ValueError:
                hosts.add((host.rstrip("."), port))
        return cls(frozenset(hosts), tuple(networks), tuple(own))

    def allows_host(self, host: str, port: int | None = None, *, exact: bool = False) -> bool:
        host = host.lower().rstrip(".")
        for name, listed in self.hosts:
            if listed is None and exact:
                continue
            if listed is not None and listed != port:
                continue
            if name == host or (name.startswith("*.") and host.endswith(name[1:])):
                return True
        return False

    def allows_ip(self, ip: IPAddress, port: int | None = None, *, exact: bool = False) -> bool:
        for net, listed in self.networks:
            if listed is None and exact:
                continue
            if (listed is None or listed == port) and ip.version == net.version and ip in net:
                return True
        return False

    def is_own(self, ip: IPAddress, port: int) -> bool:
        return any(
            port == own_port and ip.version == net.version and ip in net
            for net, own_port in self.own
        )


WILDCARD_HOSTS = {"", "0.0.0.0", "::", "*"}  # noqa: S104 (names of "every interface")


def listener_networks(host: str, port: int) -> tuple[tuple[IPNetwork, int], ...]:
    """Where TaskFlow's own listener on host:port answers (Allowlist.own): that address, or
    for a wildcard bind every address of this machine's interfaces and loopback."""
    bare = host.strip("[]").lower()
    if bare in WILDCARD_HOSTS:
        found = {"127.0.0.0/8", "::1", "0.0.0.0", "::"}  # noqa: S104
        for addresses in psutil.net_if_addrs().values():
            found.update(
                address.address.split("%", 1)[0]
                for address in addresses
                if address.family in (socket.AF_INET, socket.AF_INET6)
            )
    else:
        try:
            found = {str(ipaddress.ip_address(bare))}
        except ValueError:  # a name such as localhost
            found = set()
            with contextlib.suppress(NetguardError):
                found = {str(ip) for ip in _resolve(bare, port)}
    networks = []
    for text in sorted(found):
        with contextlib.suppress(ValueError):
            networks.append((ipaddress.ip_network(text, strict=False), port))
    return tuple(networks)


def allowlist_entry_validate(entry: str) -> str:
    """Return the cleaned entry (a host name, `*.domain`, an IP or a CIDR, each optionally with
    `:port`) or raise ValueError."""
    value = str(entry).strip().lower()
    if not value:
        raise ValueError("empty entry")
    host, port = _entry_parts(value)
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        pass
    else:
        if port is None:
            return str(network)
        text = str(network.network_address if network.num_addresses == 1 else network)
        return f"[{text}]:{port}" if network.version == 6 else f"{text}:{port}"
    name = host[2:] if host.startswith("*.") else host
    labels = name.rstrip(".").split(".")
    if not all(
        label and len(label) <= 63 and all(ch.isalnum() or ch == "-" for ch in label)
        for label in labels
    ):
        raise ValueError(f"{entry!r} is neither a host name nor an IP network")
    return host.rstrip(".") + (f":{port}" if port is not None else "")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address smuggles (mapped, 6to4, Teredo, NAT64)."""
    found = [ip.ipv4_mapped, ip.sixtofour]
    if ip.teredo:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [addr for addr in found if addr is not None]


def ip_refusal(ip: IPAddress) -> str | None:
    """Why this address may not be reached (None when it is a public unicast address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        for inner in _embedded_ipv4(ip):
            reason = ip_refusal(inner)
            if reason:
                return f"an IPv6 address embedding {reason}"
    checks = [
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    ]
    for attribute, reason in checks:
        if getattr(ip, attribute):
            return reason
    if not ip.is_global:  # shared address space 100.64/10, documentation ranges...
        return "a non-public address"
    return None


def _literal_ip(host: str) -> IPAddress | None:
    """The IP a URL host names literally; refuses the legacy/encoded IPv4 spellings."""
    bare = host.strip("[]")
    if "%" in bare:
        raise Refused(f"host {host!r}: IPv6 zone identifiers are not allowed")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    try:
        packed = socket.inet_aton(bare)
    except OSError:
        return None
    # inet_aton accepted a form that is not a dotted quad (2130706433, 0x7f.1, 0177.0.0.1, 127.1):
    # resolvers turn these into addresses, which is how allowlist checks get bypassed.
    decoded = ipaddress.IPv4Address(packed)
    raise Refused(f"host {host!r} is an encoded IP address ({decoded}); write it as a dotted quad")


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    ip: IPAddress

    @property
    def pinned_url(self) -> str:
        """The URL with the vetted IP in place of the host name."""
        parts = urlsplit(self.url)
        ip_host = f"[{self.ip}]" if self.ip.version == 6 else str(self.ip)
        path = parts.path or "/"
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.scheme}://{ip_host}:{self.port}{path}{query}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def _split_url(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"invalid URL {url!r}: {exc}") from exc
    scheme = (parts.scheme or "").lower()
    if scheme not in ALLOWED_SCHEMES:
        raise Refused(f"scheme {scheme or '(none)'!r} is not allowed (only http and https)")
    if parts.username or parts.password:
        raise Refused("credentials in the URL are not allowed; use an Authorization header")
    host = (parts.hostname or "").lower()
    if not host:
        raise Refused(f"URL {url!r} has no host")
    if not host.isascii():
        try:  # an internationalised name: resolve, send and verify its ASCII form
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise Refused(f"invalid host name {host!r}") from exc
    return scheme, host, port or (443 if scheme == "https" else 80)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise NetguardError(f"cannot resolve {host!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise NetguardError(f"{host!r} resolved to no address")
    return addresses


def target_vet(
    url: str,
    *,
    allowlist: Allowlist,
    resolve: Callable[[str, int], list[IPAddress]] | None = None,
) -> Target:
    """Check a URL and pick the address to connect to, or raise Refused / NetguardError.

    Every address the name resolves to must pass: a name with one private answer among public
    ones is refused (an attacker controls which one a later lookup returns).
    """
    scheme, host, port = _split_url(url)
    literal = _literal_ip(host)
    addresses = [literal] if literal is not None else (resolve or _resolve)(host, port)
    host_allowed = allowlist.allows_host(host, port)
    for ip in addresses:
        if allowlist.is_own(ip, port) and not (
            allowlist.allows_host(host, port, exact=True)
            or allowlist.allows_ip(ip, port, exact=True)
        ):
            raise Refused(
                f"refused: {host}:{port} is TaskFlow's own listener; an admin can allowlist "
                f"{host}:{port} itself"
            )
        if host_allowed or allowlist.allows_ip(ip, port):
            continue
        reason = ip_refusal(ip)
        if reason:
            shown = host if literal is not None else f"{host} ({ip})"
            raise Refused(f"refused: {shown} is {reason}; an admin can allowlist it")
    return Target(url=url, scheme=scheme, host=host, port=port, ip=addresses[0])


@dataclass
class Response:
    url: str
    status_code: int
    reason: str
    http_version: str
    headers: httpx.Headers
    body: bytes
    truncated: bool
    redirects: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def status_line(self) -> str:
        return f"{self.http_version} {self.status_code} {self.reason}".strip()

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:  # an unknown charset name
            return self.body.decode("utf-8", errors="replace")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle costs ~0.2-0.7 s, too much per webhook or run."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)


def _redirect_method(status: int, method: str) -> str:
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"  # what every browser does
    return method


async def arequest(
    method: str,
    url: str,
    *,
    allowlist: Allowlist,
    headers: dict[str, str] | None = None,
    content: bytes | str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_body: int = DEFAULT_MAX_BODY,
    max_redirects: int = MAX_REDIRECTS,
    on_hop: Callable[[str, str, Target], None] | None = None,
) -> Response:
    """Send one request, following redirects by hand; the whole exchange is bounded by
    `timeout` seconds. Raises Refused, Timeout or NetguardError, never httpx errors."""
    import httpx  # here, not above: ~12 MB that only senders need (idle footprint, issue 14)

    method = method.upper()
    headers = {str(k): str(v) for k, v in (headers or {}).items()}
    headers.setdefault("Accept-Encoding", "identity")  # the body cap counts what we store
    headers.setdefault("User-Agent", "TaskFlow")
    redirects: list[tuple[int, str]] = []
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            async with httpx.AsyncClient(
                trust_env=False,  # an env proxy would connect to the name, not the vetted IP
                follow_redirects=False,
                timeout=httpx.Timeout(timeout),
                verify=_tls_context(),
            ) as client:
                current = url
                while True:
                    target = await loop.run_in_executor(
                        None, lambda u=current: target_vet(u, allowlist=allowlist)
                    )
                    if on_hop:
                        on_hop(method, current, target)
                    hop_headers = {k: v for k, v in headers.items() if k.lower() != "host"} | {
                        "Host": target.host_header
                    }
                    request = client.build_request(
                        method,
                        target.pinned_url,
                        headers=hop_headers,
                        content=content,
                        extensions={"sni_hostname": target.host},
                    )
                    response = await client.send(request, stream=True)
                    try:
                        location = response.headers.get("location")
                        if response.status_code in _REDIRECT_CODES and location:
                            if len(redirects) >= max_redirects:
                                raise Refused(f"more than {max_redirects} redirects")
                            next_url = urljoin(current, location)
                            redirects.append((response.status_code, next_url))
                            new_method = _redirect_method(response.status_code, method)
                            if new_method != method:
                                content = None
                                headers = {
                                    k: v
                                    for k, v in headers.items()
                                    if k.lower() not in {"content-type", "content-length"}
                                }
                            method = new_method
                            if _origin(next_url) != _origin(current):
                                headers = {
                                    k: v
                                    for k, v in headers.items()
                                    if k.lower() not in _CROSS_ORIGIN_DROP
                                }
                            current = next_url
                            continue
                        body, truncated = bytearray(), False
                        async for chunk in response.aiter_raw():
                            room = max_body - len(body)
                            if len(chunk) > room:
                                body.extend(chunk[:room])
                                truncated = True
                                break
                            body.extend(chunk)
                        return Response(
                            url=current,
                            status_code=response.status_code,
                            reason=response.reason_phrase,
                            http_version=response.http_version,
                            headers=response.headers,
                            body=bytes(body),
                            truncated=truncated,
                            redirects=redirects,
                        )
                    finally:
                        await response.aclose()
    except TimeoutError as exc:
        raise Timeout(f"no complete response within {timeout:g} s") from exc
    except httpx.TimeoutException as exc:
        raise Timeout(f"timed out: {exc or type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise NetguardError(f"{type(exc).__name__}: {exc}") from exc


def request(method: str, url: str, *, allowlist: Allowlist, **kwargs) -> Response:
    """Blocking form of `arequest` for code without an event loop (webhooks, admin actions)."""
    return asyncio.run(arequest(method, url, allowlist=allowlist, **kwargs))
