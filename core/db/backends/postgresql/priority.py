"""Which requests are served first when connections are scarce.

A checkout has one of three priorities (the deadline queue, `admission.py`,
serves them in this order and sheds only the last):

1. `URGENT`: code running inside `urgent()`; WidgetWorld marks checkout POSTs
   (a shopper paying) with `core.http.priority.urgent_for("POST")`;
2. `CONTINUING`: a request that has already had a connection;
3. `NEW`: a request's first query.

`urgent()` is a context variable, so it follows the request's thread (or
task) and nothing else. It is the backend's public API for this: application
code never touches the pool.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from contextvars import ContextVar


class Priority(enum.IntEnum):
    URGENT = 0
    CONTINUING = 1
    NEW = 2


_urgent: ContextVar[bool] = ContextVar("widgetworld_db_urgent", default=False)


@contextlib.contextmanager
def urgent() -> Iterator[None]:
    """Checkouts in this block go ahead of browsing and are never shed."""
    token = _urgent.set(True)
    try:
        yield
    finally:
        _urgent.reset(token)


def is_urgent() -> bool:
    return _urgent.get()
