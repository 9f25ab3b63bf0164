"""Who may read what the app says about itself: `/metrics` and verbose health.

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
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden

from core.http.proxies import Address, is_trusted_proxy, socket_address

View = Callable[..., HttpResponse]


def is_internal(request: HttpRequest) -> bool:
    token: str = settings.METRICS_TOKEN
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode()
        ):
            return True
    return address_allowed(socket_address(request))


def address_allowed(address: Address | None) -> bool:
    """On a monitoring network, and not one of our proxies (which relay the internet)."""
    if address is None or is_trusted_proxy(address):
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


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
