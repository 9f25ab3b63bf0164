"""Who may read what the app says about itself: `/metrics` (on its own port) and verbose health.

They name the database, its load and the app's internals, so they are for
the monitoring network (`METRICS_ALLOWED_NETWORKS`, loopback by default) or
for whoever presents `METRICS_TOKEN` as a bearer token. The client address
is the socket's (`REMOTE_ADDR`), never a forwarded header a client could
write itself, and a request relayed by one of our `TRUSTED_PROXIES` is never
internal, however private the proxy's address. A denied request costs no
database work.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden

from core.http.proxies import Address, is_trusted_proxy, socket_address

View = Callable[..., HttpResponse]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_internal(request: HttpRequest) -> bool:
    if bearer_matches(request.headers.get("Authorization", ""), settings.METRICS_TOKEN):
        return True
    return address_allowed(socket_address(request))


def bearer_matches(authorization: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time; never with no token set."""
    if not token:
        return False
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


def address_on(address: Address | None, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def address_allowed(address: Address | None) -> bool:
    """On a monitoring network, and not one of our proxies (which relay the internet)."""
    if is_trusted_proxy(address):
        return False
    return address_on(address, settings.METRICS_ALLOWED_NETWORKS)


def forbidden() -> HttpResponse:
    return HttpResponseForbidden(
        "forbidden: not on an allowed network and no valid bearer token\n",
        content_type="text/plain",
    )


def internal_only(view: View) -> View:
    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not is_internal(request):
            return forbidden()
        return view(request, *args, **kwargs)

    return guarded
