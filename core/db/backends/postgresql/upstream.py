"""The fence around psycopg_pool: the only module that touches its private names.

psycopg_pool keeps the connections (a thread-safe queue, growth one
connection at a time while clients wait, reconnection in the background,
`max_lifetime`, `max_idle`), and `AdaptivePool` drives it through its public
API: `getconn`, `putconn`, `open`, `close`, `resize`, `max_size`, `min_size`,
`closed`, `get_stats`, the `configure` and `check` callbacks, and
`connection_class` (whose public `connect()` tells us of every connection
opened or refused, `health.py`).

What its public API cannot do, and what WidgetWorld needs, is below, each
with why. Every upstream method whose behaviour this relies on is listed in
`VETTED` with a hash of its source per psycopg_pool version we have read;
`tests/db/test_upstream.py` fails, naming the method, when an installed
version's source differs or the version is not listed. Read the new source,
adjust this module, then add the hashes.
"""

from __future__ import annotations

import math
import select
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg_pool
from psycopg_pool.base import AttemptWithBackoff

if TYPE_CHECKING:
    from core.db.backends.postgresql.pool import AdaptivePool

# Longest pause between two reconnection attempts of one connection slot:
# after a database restart the pool must refill within a second or two, not
# after psycopg_pool's backoff has grown to a minute.
MAX_RECONNECT_DELAY = 1.0

# sha256 (first 16 hex digits) of `inspect.getsource()` of each upstream
# method this module overrides or whose bookkeeping it mirrors, per version.
_SOURCES_3_3 = {
    # Overridden (delegating), for LIFO order.
    "ConnectionPool._get_ready_connection": "99b699260c88e9e6",
    # Overridden (delegating), for the capped backoff.
    "ConnectionPool._add_connection": "3dea89434146e65d",
    "AttemptWithBackoff.update_delay": "5ba2be0b3d81f4c7",
    # Mirrored by `close_idle`, `retire` and `borrow_idle` (the idle deque,
    # oldest on the left; `_nconns` under `_lock`; `_close_connection`).
    "ConnectionPool._shrink_pool": "69eb26508c4e24ce",
    "ConnectionPool._add_to_pool": "81f2d9c7d440d066",
    "ConnectionPool._close_connection": "02f0e7e0aa642489",
}
# pyproject.toml allows psycopg-pool 3.3.x: every release read so far.
VETTED: dict[str, dict[str, str]] = {
    version: _SOURCES_3_3 for version in ("3.3.0", "3.3.1", "3.3.2", "3.3.3")
}


class PooledConnection(psycopg.Connection[Any]):
    """A pooled connection that knows when it must be replaced and since when it is idle."""

    expire_at: float = math.inf
    idle_since: float = 0.0
    # Registered once for its socket: is the idle connection readable (hung up)?
    poller: select.poll


class CappedBackoff(AttemptWithBackoff):
    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, MAX_RECONNECT_DELAY)


class UpstreamPool(psycopg_pool.ConnectionPool[PooledConnection]):
    """psycopg_pool's pool, with the few changes that need its private names."""

    def __init__(self, owner: AdaptivePool, **kwargs: Any) -> None:
        self.owner = owner
        super().__init__(**kwargs)

    # -- overrides (each delegates; no upstream code is copied) --------------

    def _get_ready_connection(self, timeout: float | None) -> PooledConnection | None:
        # psycopg_pool hands out the connection idle the longest (FIFO). With a
        # checkout per query that round-robins every backend and wakes a cold
        # server process each time; the one returned last (LIFO) is still warm,
        # costs a third of the overhead here, and leaves the idle tail to be
        # closed as spare. Turning the deque once puts the newest first, and
        # upstream then takes it with its own bookkeeping (stats, the
        # requests-errors counter, max_waiting) intact.
        if len(self._pool) > 1:
            self._pool.rotate(1)
        return super()._get_ready_connection(timeout)

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        # The backoff between attempts doubles up to minutes upstream; capped
        # here. The single-grower guard (`growing`) is upstream's, untouched.
        attempt = attempt or CappedBackoff(timeout=self.reconnect_timeout)
        super()._add_connection(attempt, growing=growing)

    # -- reads without building a stats dict ---------------------------------

    @property
    def check_callback(self) -> Any:
        return self._check

    @property
    def size(self) -> int:
        """Connections open, out, or being opened."""
        return self._nconns

    @property
    def idle(self) -> int:
        return len(self._pool)

    # -- shrinking faster than upstream ---------------------------------------

    def retire(self, conn: PooledConnection) -> None:
        """Close a returned connection for good (above the ceiling): no replacement."""
        with self._lock:
            self._nconns -= 1
        self._close_connection(conn)

    def close_idle(self, *, keep: int, idle_before: float = math.inf) -> int:
        """Close idle connections, longest idle first, while more than `keep` are open.

        Only those idle since before `idle_before`. Upstream closes one per
        `max_idle` at most, so a pool grown by a burst stays large for
        minutes, and it never closes idle ones when the ceiling drops.
        """
        doomed = []
        with self._lock:
            while self._nconns > keep and self._pool and self._pool[0].idle_since < idle_before:
                doomed.append(self._pool.popleft())
                self._nconns -= 1
        for conn in doomed:
            self._close_connection(conn)
        return len(doomed)

    def borrow_idle(self) -> PooledConnection | None:
        """An idle connection for the monitor's own query, or None: never waits, never grows."""
        with self._lock:
            conn = self._pool.pop() if self._pool else None
        if conn is not None:
            conn._pool = self
        return conn


def owner(conn: psycopg.Connection[Any]) -> AdaptivePool | None:
    """The AdaptivePool a checked-out connection belongs to (settings changes replace pools)."""
    upstream = getattr(conn, "_pool", None)
    return upstream.owner if isinstance(upstream, UpstreamPool) else None
