"""Answering from old data: why, since when, and what the request then carries.

Three things make a request answer from the last good copy instead of the
database: the database cannot be reached (`DatabaseUnavailable`), or the pool
turned the request away (`PoolTimeout`, `PoolRejected`). Each such answer
is marked on its request (`serve_stale`): the page shows the banner ("Prices
and stock as of 14:02: checkout is paused, your cart is safe"), the
response gets `Age` and `Cache-Status` (catalog/caching/pages.py), and it is
counted in `widgetworld_stale_responses_total{reason}` and in the status
page's signals, so that an outage can never hide behind a high hit rate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest

from catalog.caching.metrics import STALE_RESPONSES
from core.db.backends.postgresql.base import DatabaseWrapper
from core.db.backends.postgresql.errors import (
    ConnectionUnavailable,
    DatabaseUnavailable,
    PoolRejected,
    PoolTimeout,
)
from core.status import signals as status_signals

DATABASE_UNAVAILABLE = "database_unavailable"
POOL_TIMEOUT = "pool_timeout"
POOL_REJECTED = "pool_rejected"
REASONS = (DATABASE_UNAVAILABLE, POOL_TIMEOUT, POOL_REJECTED)

_REQUEST_ATTRIBUTE = "_catalog_stale"


@dataclass(frozen=True)
class Stale:
    """An answer made from data the database could not confirm."""

    reason: str
    # When the oldest copy the answer is made of was read from the database.
    as_of: dt.datetime
    # Seconds a client should wait before trying what needs the database.
    retry_after: int = DatabaseUnavailable.retry_after

    @classmethod
    def at(cls, reason: str, made_at: float, retry_after: int | None = None) -> Stale:
        as_of = dt.datetime.fromtimestamp(made_at, tz=dt.UTC)
        return cls(reason, as_of, retry_after or DatabaseUnavailable.retry_after)


def reason_of(error: ConnectionUnavailable) -> str:
    if isinstance(error, PoolTimeout):
        return POOL_TIMEOUT
    if isinstance(error, PoolRejected):
        return POOL_REJECTED
    return DATABASE_UNAVAILABLE


def database_down() -> bool:
    """True while the pool's breaker says the database is down (docs/data-layer.md, "Breaker").

    Read from this process's pool, with no I/O: then a cached page is answered
    as the last good copy at once, banner and all, even when it is current.
    Django's own backends (the benchmarks' other setups) cannot say: False.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    return isinstance(connection, DatabaseWrapper) and connection.breaker_open


def serve_stale(request: HttpRequest, stale: Stale) -> None:
    """This request answers from old data: count it once, and let the page say so.

    Counted twice: for Prometheus, and for the status page's rules
    (core/status/signals.py), which degrade the storefront's component when a
    share of its answers are stale, alert or no alert.
    """
    previous: Stale | None = getattr(request, _REQUEST_ATTRIBUTE, None)
    if previous is None:
        STALE_RESPONSES.labels(stale.reason).inc()
        status_signals.record_path(request.path, status_signals.STALE)
    elif previous.as_of <= stale.as_of:
        return
    setattr(request, _REQUEST_ATTRIBUTE, stale)


def stale_of(request: HttpRequest) -> Stale | None:
    """How this request's answer is stale, or None when it came from the database."""
    stale: Stale | None = getattr(request, _REQUEST_ATTRIBUTE, None)
    return stale


def zero_metrics() -> None:
    """Export the stale counters at 0 from the start, so the first stale answer is an increase()."""
    for reason in REASONS:
        STALE_RESPONSES.labels(reason)
