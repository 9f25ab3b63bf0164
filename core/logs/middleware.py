"""Gives each request an id, echoes it to the client and puts it on every log line."""

from __future__ import annotations

from collections.abc import Callable

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase

from core.http.proxies import from_trusted_proxy
from core.logs.context import accept_or_generate, request_id

HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Keeps a sane `X-Request-ID` from our proxy; suffixes a client's own; else makes one.

    The id goes back in the response header, where a shopper's support ticket,
    the proxy's log and gunicorn's access log (`%({x-request-id}o)s`) pick it up.
    It stays current until the response is closed (`request_finished`), not
    just until this middleware returns: Django logs 4xx/5xx responses
    (`django.request`) after the whole middleware chain has run.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        rid = accept_or_generate(request.headers.get(HEADER), trusted=from_trusted_proxy(request))
        request.request_id = rid  # type: ignore[attr-defined]
        request_id.set(rid)
        response = self.get_response(request)
        response[HEADER] = rid
        return response


@receiver(request_finished, dispatch_uid="core.logs.request_finished")
def forget_request_id(sender: object, **kwargs: object) -> None:
    """The thread's next log lines are no longer this request's."""
    request_id.set(None)
