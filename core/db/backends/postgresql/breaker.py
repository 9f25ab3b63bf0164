"""The pool's circuit breaker: while the database is known to be down, nobody waits for it.

Two states, public through `PoolStats.breaker` and the
`widgetworld_db_breaker_open` gauge:

- `closed`: the database answers; checkouts go through.
- `open`: a connection attempt failed because the server cannot be reached
  (refused, reset, shutting down, timed out; not "too many clients", which
  means busy, not down). Every checkout raises `DatabaseUnavailable` at once,
  in microseconds, and requests already waiting are woken with it.

Whoever first sees the failure opens it: a pool worker whose connection
attempt failed, or a request that found its connection dead and whose quick
probe could not connect either. While open, the pool's monitor probes the
server (a plain connection, opened and closed) every `PROBE_INTERVAL`; the
first probe that connects closes the breaker, and requests go through again.
There is no half-open trickle: a successful connection is proof enough, and
psycopg_pool refills the pool in the background.

Opening and closing are pool events (`pool_event` signal, `breaker_opened` /
`breaker_closed`), logged once each.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

from core.db.backends.postgresql.errors import DatabaseUnavailable
from core.db.backends.postgresql.events import EventLog

# How often an open breaker tries the server: the pool serves again within
# this of the database accepting connections.
PROBE_INTERVAL = 0.25


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"


class Breaker:
    def __init__(self, alias: str, events: EventLog, on_open: Callable[[], None]) -> None:
        self.alias = alias
        self._events = events
        self._on_open = on_open
        self._lock = threading.Lock()
        # Read without the lock on every checkout: a bool is the cheapest test.
        self.is_open = False
        self.opened_at: float | None = None
        self.reason = ""
        self.trips = 0
        # Set when the breaker opens, so the monitor probes at once.
        self.wake = threading.Event()

    @property
    def state(self) -> BreakerState:
        return BreakerState.OPEN if self.is_open else BreakerState.CLOSED

    def trip(self, error: BaseException) -> None:
        """The server cannot be reached: fail fast from now until a probe connects."""
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        with self._lock:
            if self.is_open:
                return
            self.is_open = True
            self.opened_at = time.monotonic()
            self.reason = reason
            self.trips += 1
        self.wake.set()
        self._events.record(
            "breaker_opened",
            logging.WARNING,
            f"database unreachable, failing fast until it answers: {reason}",
            reason=reason,
        )
        self._on_open()

    def reset(self) -> None:
        """A probe connected: requests go through again."""
        with self._lock:
            if not self.is_open:
                return
            self.is_open = False
            down_for = time.monotonic() - (self.opened_at or time.monotonic())
            self.opened_at = None
        self._events.record(
            "breaker_closed",
            logging.WARNING,
            f"database answering again after {down_for:.1f} s",
            down_for=round(down_for, 3),
        )

    def unavailable(self) -> DatabaseUnavailable:
        return DatabaseUnavailable(f"database {self.alias!r} is unreachable: {self.reason}")
