"""Gives each request an id, echoes it to the client and puts it on every log line."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from core.logs.context import accept_or_generate, request_id

HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Accepts a sane incoming `X-Request-ID` (from the proxy), else makes one.

    The id goes back in the response header, where a shopper's support ticket,
    the proxy's log and gunicorn's access log (`%({x-request-id}o)s`) pick it up.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        rid = accept_or_generate(request.headers.get(HEADER))
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response[HEADER] = rid
        return response
