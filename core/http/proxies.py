"""Who really sent a request, when a proxy may stand in between.

`TRUSTED_PROXIES` lists the networks our own proxies (load balancer,
ingress) connect from. A request from one of them came from the internet,
whatever its socket address looks like, and its `X-Forwarded-For` names the
client; from anywhere else, only the socket's address counts, and the
headers are the client's own words.

Written by hand rather than with django-ipware: the rule is a dozen lines,
and it shares one list of CIDRs with the metrics access check and request
ids, which ipware's prefix strings would not.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted_proxy(address: Address | None) -> bool:
    return address is not None and any(address in network for network in settings.TRUSTED_PROXIES)


def socket_address(request: HttpRequest) -> Address | None:
    return parse_address(request.META.get("REMOTE_ADDR", ""))


def from_trusted_proxy(request: HttpRequest) -> bool:
    return is_trusted_proxy(socket_address(request))


def client_address(request: HttpRequest) -> str:
    """The client's address: the socket's, or behind our proxies the last hop they did not add.

    Read right to left: each trusted proxy appends the address it saw, so
    the first untrusted entry from the right is the client; anything left of
    it was written by the client and proves nothing.
    """
    peer = socket_address(request)
    if not is_trusted_proxy(peer):
        return str(peer) if peer else "unknown"
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            break
        if not is_trusted_proxy(address):
            return str(address)
    return str(peer)
