"""Which peers may speak for a client (X-Forwarded-For, X-Forwarded-Proto): only configured
proxy addresses, or "unix" for a peer on TaskFlow's Unix socket (nginx there, no TCP peer
trusted at all). Any other peer, a local job included, is the client itself
(docs/architecture.md, record 12)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

UNIX_PEER = "unix"


def proxy_entry_validate(entry: str) -> str:
    """An address, a network or "unix"; ValueError otherwise."""
    value = str(entry).strip().lower()
    if value == UNIX_PEER:
        return value
    return str(ipaddress.ip_network(value.strip("[]"), strict=False))


@lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(
        ipaddress.ip_network(entry.strip("[]"), strict=False)
        for entry in entries
        if entry != UNIX_PEER
    )


def peer_trusted(remote: str | None, entries) -> bool:
    """Is the socket peer `remote` (REMOTE_ADDR; none on a Unix socket) a trusted proxy?"""
    entries = tuple(str(entry).strip().lower() for entry in entries)
    if not remote:
        return UNIX_PEER in entries
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in _networks(entries))


def forwarded_client(meta, *, hops: int, entries) -> str:
    """The client's address: from X-Forwarded-For (the `hops`-th from the right) only when the
    peer is a trusted proxy, else the peer itself ("unix" for a Unix socket peer)."""
    remote = meta.get("REMOTE_ADDR") or ""
    forwarded = meta.get("HTTP_X_FORWARDED_FOR") or ""
    if hops and forwarded and peer_trusted(remote, entries):
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            return addresses[-min(hops, len(addresses))]
    return remote or UNIX_PEER
