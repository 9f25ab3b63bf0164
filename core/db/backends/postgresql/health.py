"""Is this connection fit to hand out, and is the server there at all?

- At checkout, without a round trip: an idle connection's socket has nothing
  to say, so if it is readable the server has hung up (restart,
  `pg_terminate_backend`, failover); and `max_lifetime` is honoured here, not
  only when a connection comes back.
- Every connection attempt of the pool goes through `connection_class()`'s
  `connect()` (psycopg's public API): successes are counted and dated, and a
  failure says whether the server is full (busy: look at the budget again)
  or cannot be reached (down: trip the breaker).
- `probe()` is the breaker's question while it is open: a plain connection,
  opened and closed.
"""

from __future__ import annotations

import logging
import random
import select
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import ConnStatus

from core.db.backends.postgresql.breaker import Breaker
from core.db.backends.postgresql.events import EventLog
from core.db.backends.postgresql.stats import Counters
from core.db.backends.postgresql.upstream import PooledConnection

TOO_MANY_CONNECTIONS = pg_errors.TooManyConnections.sqlstate
# What the server says when it refuses a connection with TOO_MANY_CONNECTIONS:
# "sorry, too many clients already", and "remaining connection slots are
# reserved for ..." when only reserved slots are left (wording varies by version).
SERVER_FULL_MESSAGES = ("too many clients already", "remaining connection slots are reserved")
# A probe that cannot connect within this says "down" for now.
PROBE_TIMEOUT = 2


def server_full(error: psycopg.Error) -> bool:
    """Whether the server refused a connection because it is full (SQLSTATE 53300).

    A refused connection has no result to carry a SQLSTATE: psycopg raises a
    plain OperationalError whose `sqlstate` is None, so the server's own words
    are all there is to tell "full" from "down".
    """
    if getattr(error, "sqlstate", None) == TOO_MANY_CONNECTIONS:
        return True
    return any(message in str(error) for message in SERVER_FULL_MESSAGES)


class Health:
    def __init__(
        self,
        *,
        events: EventLog,
        counters: Counters,
        breaker: Breaker,
        max_lifetime: float,
        connect_kwargs: dict[str, Any],
        on_server_full: Callable[[], None],
    ) -> None:
        self._events = events
        self._counters = counters
        self._breaker = breaker
        self._max_lifetime = max_lifetime
        self._probe_kwargs = {**connect_kwargs, "connect_timeout": PROBE_TIMEOUT}
        self._on_server_full = on_server_full

    def connection_class(self) -> type[PooledConnection]:
        """A connection class of this pool's own, whose `connect()` reports here."""
        health = self

        class Connection(PooledConnection):
            @classmethod
            def connect(cls, conninfo: str = "", **kwargs: Any) -> Connection:
                try:
                    conn = super().connect(conninfo, **kwargs)
                except psycopg.Error as error:
                    health.connect_failed(error)
                    raise
                health.connected(conn)
                return conn

        return Connection

    def connected(self, conn: PooledConnection) -> None:
        # Up to 10% early, so connections opened together in a surge do not
        # all expire together; psycopg_pool checks its own date on return.
        conn.expire_at = time.monotonic() + self._max_lifetime * random.uniform(0.9, 1.0)
        conn.poller = select.poll()
        conn.poller.register(conn.pgconn.socket, select.POLLIN)
        self._counters.add(opened=1)
        self._events.record("opened", logging.DEBUG, "opened a connection")
        if self._breaker.is_open:
            self._breaker.reset()

    def connect_failed(self, error: psycopg.Error) -> None:
        if server_full(error):
            # The server is full, not gone: our share is stale.
            self._on_server_full()
            self._events.record(
                "connect_failed", logging.WARNING, f"server refused a connection: {error}"
            )
            return
        self._events.record(
            "connect_failed", logging.WARNING, f"cannot reach the database: {error}".strip()
        )
        self._breaker.trip(error)

    def usable(self, conn: PooledConnection) -> bool:
        """Cheap checks only: no round trip on the hot path."""
        if conn.expire_at <= time.monotonic():
            return False
        if conn.closed or conn.pgconn.status != ConnStatus.OK:
            self.record_lost("connection closed")
            return False
        # An idle connection has nothing to say: if its socket is readable, the
        # server has sent a farewell (shutdown, pg_terminate_backend). The FATAL
        # message arrives before the EOF, and a backend already gone from
        # pg_stat_activity may not have closed its socket yet, so waiting for the
        # EOF would hand out a dead connection. Nothing else is ever sent to an
        # idle pooled connection (no LISTEN here): whatever it is, drop it.
        if not conn.poller.poll(0):
            return True
        try:
            conn.pgconn.consume_input()
        except psycopg.OperationalError:
            self.record_lost("the server closed the connection")
            return False
        self.record_lost("the server spoke on an idle connection (a farewell)")
        return False

    def record_lost(self, reason: str) -> None:
        self._counters.add(lost=1)
        self._events.record(
            "lost", logging.WARNING, f"dropped a dead connection ({reason})", reason=reason
        )

    def probe(self) -> bool:
        """Can a connection be opened right now? Trips or resets the breaker accordingly."""
        try:
            psycopg.connect(**self._probe_kwargs).close()
        except psycopg.Error as error:
            if getattr(error, "sqlstate", None) == TOO_MANY_CONNECTIONS:
                self._breaker.reset()  # full, but there
                return True
            self._breaker.trip(error)
            return False
        self._breaker.reset()
        return True
