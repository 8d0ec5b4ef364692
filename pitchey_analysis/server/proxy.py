"""Which address a request comes from, behind trusted proxies (``--trust-proxy ADDRESS/CIDR``).

``X-Forwarded-For`` is written by whoever sends the request: only a proxy we
trust appends to it truthfully, and only its own hop. Walking the list from the
right, each entry added by a trusted hop names the next hop; the first entry
that is not itself a trusted proxy is the client (the leftmost entries were
written by the client and are never believed).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from ..exceptions import UsageError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: what ``trust_proxy=True`` means: a proxy on the same host
LOOPBACK = ("127.0.0.0/8", "::1/128")


def parse_networks(specs: Iterable[str]) -> tuple[Network, ...]:
    """Networks from addresses or CIDR blocks (``10.0.0.5``, ``10.0.0.0/8``, ``::1``).

    Raises:
        UsageError (a ValueError): a spec that is not an address or a network.
    """
    out = []
    for spec in specs:
        try:
            out.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError:
            raise UsageError(f"--trust-proxy {spec!r} is not an IP address or CIDR block") from None
    return tuple(out)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip


def trusted(address: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether ``address`` is one of the trusted proxies."""
    ip = _ip(address) if address else None
    return ip is not None and any(ip.version == n.version and ip in n for n in networks)


def client_address(peer: str | None, forwarded_for: str, networks: tuple[Network, ...]) -> str | None:
    """The client's address: the peer's own, or the rightmost forwarded hop no trusted proxy is.

    Returns None when the peer is unknown.
    """
    if not trusted(peer, networks) or not forwarded_for.strip():
        return peer
    hop = peer
    for entry in reversed(forwarded_for.split(",")):
        ip = _ip(entry)
        if ip is None:
            return hop  # garbage a trusted proxy passed along: the last hop we can name
        hop = str(ip)
        if not trusted(hop, networks):
            return hop
    return hop
