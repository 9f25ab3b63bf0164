"""The current request's id, carried through threads' log lines by a contextvar.

A contextvar rather than a thread-local so that code run for the request in
another context (an `asyncio` task, `contextvars.copy_context().run`) keeps the
id; gthread workers get one context per request thread.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

# What we accept from a proxy or a client: short, printable, no spaces or
# quotes, so it can never forge a log field or split a header.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def accept_or_generate(incoming: str | None, *, trusted: bool) -> str:
    """The id for this request's log lines and response.

    From a trusted proxy a sane id is kept as is, so traces join up across
    services. From anyone else it gets a server part appended: the client's
    id still finds the request in the logs, but no client can make its lines
    pass for another request's. Without a sane id, a new one.
    """
    if incoming and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming if trusted else f"{incoming[:64]}.{uuid.uuid4().hex[:12]}"
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamps every record with `request_id` ("-" outside a request) for both formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return True


class DropServiceUnavailable(logging.Filter):
    """Keeps Django's per-request 503 lines out of the logs.

    `django.request` logs every response of 500 and above at ERROR. A 503 is
    what WidgetWorld answers on purpose when the pool fast-fails or `/readyz`
    says not ready: the pool logs that event once with its context and the
    metrics count every one, so a line per shopper during a surge (or per probe
    while unready) would only bury the line that matters.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 503
