"""A 503 with Retry-After, never a 500 or a hang, when no connection can be had.

The pool raises `ConnectionUnavailable` (busy: `PoolTimeout`, `PoolRejected`;
down: `DatabaseUnavailable`) within its checkout timeout. Shoppers get a
friendly page, API clients JSON, both a `Retry-After` a well-behaved client or
CDN honours. The pool has already counted and logged the event; nothing is
logged again here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from django.views import defaults

from core.db.backends.postgresql.errors import ConnectionUnavailable, DatabaseUnavailable
from core.status.context_processors import status_banner


def unavailable_response(request: HttpRequest, error: ConnectionUnavailable) -> HttpResponse:
    down = isinstance(error, DatabaseUnavailable)
    response: HttpResponse
    if _wants_json(request):
        response = JsonResponse(
            {
                "error": "database_unavailable" if down else "busy",
                "detail": "The shop cannot reach its database; please retry shortly."
                if down
                else "The shop is very busy; please retry shortly.",
                "retry_after": error.retry_after,
            },
            status=503,
        )
    else:
        # Rendered without the request: no context processor may touch the database
        # now. The status banner reads memory only, so it is the one added.
        context = {"down": down, "retry_after": error.retry_after, **status_banner(request)}
        body = render_to_string("503.html", context)
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(error.retry_after)
    add_never_cache_headers(response)
    return response


def _wants_json(request: HttpRequest) -> bool:
    if request.path.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


class ServiceUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ConnectionUnavailable):
            return unavailable_response(request, exception)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """`handler500`: the same 503 when the database failed outside a view (in a middleware)."""
    error = sys.exc_info()[1]
    if isinstance(error, ConnectionUnavailable):
        return unavailable_response(request, error)
    return defaults.server_error(request)
