"""Counts every shopper-facing answer for the status rules, by component and outcome."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from core.db.backends.postgresql.errors import ConnectionUnavailable, DatabaseUnavailable
from core.status import signals
from core.status.components import classify


class StatusSignalsMiddleware:
    """Placed after ServiceUnavailableMiddleware, so it sees the pool's exception first.

    Costs a dict update per request: the counts reach the shared cache from
    the monitor thread, never from the request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        component = classify(request.path)
        if component is not None:
            signals.record(component, signals.REQUESTS)
            outcome = getattr(request, "_status_outcome", None)
            if outcome is not None:
                signals.record(component, outcome)
            elif response.status_code >= 500:
                signals.record(component, signals.FAILED)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, DatabaseUnavailable):
            request._status_outcome = signals.UNAVAILABLE  # type: ignore[attr-defined]
        elif isinstance(exception, ConnectionUnavailable):
            request._status_outcome = signals.BUSY  # type: ignore[attr-defined]
