"""Who may read what the app says about itself: `/metrics` and verbose health.

They name the database, its load and the app's internals, so they are for
the monitoring network (`METRICS_ALLOWED_NETWORKS`, loopback by default) or
for whoever presents `METRICS_TOKEN` as a bearer token. The client address
is the socket's (`REMOTE_ADDR`), never a forwarded header a client could
write itself. A denied request costs no database work.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden

View = Callable[..., HttpResponse]


def is_internal(request: HttpRequest) -> bool:
    token: str = settings.METRICS_TOKEN
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode()
        ):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
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
