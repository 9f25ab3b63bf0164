"""AdaptivePool: one object per database alias and process, on top of psycopg_pool.

psycopg_pool does the hard part: a thread-safe queue of connections, growing
one at a time while clients wait, shrinking idle ones, reconnecting in the
background. `AdaptivePool` drives it through its public API (the few
exceptions live in `upstream.py`) and adds what a web fleet needs, each part
in a module of its own that reads alone:

- `admission` (`admission.py`, `priority.py`): permits, priority, the
  deadline queue (CoDel), `max_waiting`;
- `sizing` (`sizing.py`, `budget.py`, `limit.py`): the fleet budget's
  ceiling and the learned limit;
- `breaker`, `health` (`breaker.py`, `health.py`): fail fast while the
  database is down; dead and expired connections;
- `borrows` (`borrows.py`): who holds what, leaks, orphans;
- `counters`, `events` (`stats.py`, `events.py`): counters, one log line per
  kind of event, `stats()`;
- the monitor (`monitor.py`): the one thread for everything periodic.

A checkout is: breaker closed? a permit (`admission`), a connection from
psycopg_pool, a cheap liveness check, a record of the borrower. A return is
the reverse; every query's time feeds the learned limit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import psycopg_pool
from psycopg.pq import TransactionStatus

from core.db.backends.postgresql import signals
from core.db.backends.postgresql.admission import Admission, Admitted, Outcome
from core.db.backends.postgresql.borrows import Borrows
from core.db.backends.postgresql.breaker import Breaker
from core.db.backends.postgresql.budget import ServerSampler, Share
from core.db.backends.postgresql.errors import (
    ConnectionUnavailable,
    LoadShed,
    PoolRejected,
    PoolTimeout,
)
from core.db.backends.postgresql.events import EventLog
from core.db.backends.postgresql.health import Health
from core.db.backends.postgresql.monitor import Monitor
from core.db.backends.postgresql.options import PoolOptions
from core.db.backends.postgresql.priority import Priority
from core.db.backends.postgresql.replication import WalWatch
from core.db.backends.postgresql.sizing import Sizing
from core.db.backends.postgresql.stats import Counters, PoolStats, ServerStats
from core.db.backends.postgresql.upstream import PooledConnection, UpstreamPool

logger = logging.getLogger("core.db.pool")

# A request waiting for a connection that is being opened looks at the
# breaker this often, so it learns of an outage within this, not at its timeout.
SLICE = 0.05
# Idle connections above the learned limit are closed after this long: the
# limit moves by one at a time, so a second is enough not to churn.
LIMIT_SPARE_AFTER = 1.0
# The WAL position is read on an idle connection; when none has been idle at a
# tick for this long (every one busy), the monitor waits up to WAL_WAIT for one.
WAL_BORROW_AFTER = 1.0
WAL_WAIT = 0.1


class AdaptivePool:
    def __init__(
        self,
        *,
        alias: str,
        options: PoolOptions,
        connect_kwargs: dict[str, Any],
        configure: Callable[[PooledConnection], Any] | None,
        fleet: str,
        application_name: str,
        round_trip_check: bool = False,
    ) -> None:
        self.alias = alias
        self.options = options
        self.fleet = fleet
        self.application_name = application_name
        self.connect_kwargs = connect_kwargs
        self.timeout = options.timeout
        monitor_name = f"{fleet}-monitor{application_name[len(fleet) :]}"
        self.events = EventLog(alias, sender=AdaptivePool)
        self.counters = Counters()
        self.breaker = Breaker(alias, self.events, on_open=self._breaker_opened)
        self.borrows = Borrows(alias, self.events, options.leak_seconds)
        self.health = Health(
            events=self.events,
            counters=self.counters,
            breaker=self.breaker,
            max_lifetime=options.max_lifetime,
            connect_kwargs={**connect_kwargs, "application_name": monitor_name},
            on_server_full=self._server_full,
        )
        floor = max(1, options.min_size)
        self.admission = Admission(
            floor,
            max_waiting=options.max_waiting,
            target=options.queue_target,
            interval=options.queue_interval,
        )
        self._upstream = UpstreamPool(
            self,
            kwargs=connect_kwargs,
            connection_class=self.health.connection_class(),
            min_size=options.min_size,
            max_size=floor,
            open=False,
            configure=configure,
            check=psycopg_pool.ConnectionPool.check_connection if round_trip_check else None,
            name=f"{alias}@{application_name}",
            timeout=options.timeout,
            # Requests wait in `admission`; only permit holders reach psycopg_pool.
            max_waiting=0,
            max_lifetime=options.max_lifetime,
            max_idle=options.max_idle,
            reconnect_timeout=options.reconnect_timeout,
            num_workers=options.num_workers,
        )
        self.sizing = Sizing(
            alias=alias,
            options=options,
            fleet=fleet,
            application_name=application_name,
            sampler=ServerSampler(connect_kwargs, monitor_name),
            upstream=self._upstream,
            admission=self.admission,
            events=self.events,
            counters=self.counters,
            on_lost=self.health.record_lost,
        )
        self.wal = (
            WalWatch(alias, {**connect_kwargs, "application_name": monitor_name})
            if options.track_wal
            else None
        )
        self._monitor = Monitor(self)
        self._open_lock = threading.Lock()
        # Requests holding a permit that wait for a connection being opened.
        self._opening_waiters = _Gauge()

    # -- lifecycle -----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._upstream.closed

    def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        """Open at first use (after fork); cheap to call on every checkout once open."""
        if self._upstream.closed:
            with self._open_lock:
                self._open_once(wait, timeout)

    def _open_once(self, wait: bool, timeout: float) -> None:
        if not self._upstream.closed:
            return
        # Look at the server before the first connection: a process joining
        # a busy fleet must not grow into slots the others still hold.
        self.sizing.refresh()
        if self.wal is not None:
            # A router asks at once whether this server is fit to read from.
            self.wal.first_reading()
        self._upstream.open(wait=wait, timeout=timeout)
        self._monitor.start()

    def close(self, timeout: float = 5.0) -> None:
        self._monitor.stop(timeout)
        self.admission.fail_all()
        self._upstream.close(timeout=timeout)
        # Connections left by threads that ended would otherwise stay open
        # (the borrow record keeps them from being collected).
        for orphan in self.borrows.watch(time.monotonic()):
            self.putconn(orphan.conn)

    # -- psycopg_pool's public API, for code written for Django's own pool -----

    @property
    def name(self) -> str:
        return self._upstream.name

    @property
    def min_size(self) -> int:
        return self._upstream.min_size

    @property
    def max_size(self) -> int:
        return self._upstream.max_size

    @property
    def _check(self) -> Callable[[PooledConnection], None] | None:
        """The round-trip check callback, which Django's own tests read under this name."""
        return self._upstream.check_callback

    def get_stats(self) -> dict[str, int]:
        return self._upstream.get_stats()

    def pop_stats(self) -> dict[str, int]:
        return self._upstream.pop_stats()

    def wait(self, timeout: float = 30.0) -> None:
        self._upstream.wait(timeout)

    def check(self) -> None:
        self._upstream.check()

    def drain(self) -> None:
        self._upstream.drain()

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[PooledConnection]:
        """psycopg_pool's context manager: commit or roll back, then return."""
        conn = self.getconn(timeout)
        try:
            with conn:
                yield conn
        finally:
            self.putconn(conn)

    # -- checkout and return -------------------------------------------------

    def getconn(
        self, timeout: float | None = None, priority: Priority = Priority.NEW
    ) -> PooledConnection:
        if self.breaker.is_open:
            raise self._unavailable()
        started = time.monotonic()
        timeout = self.timeout if timeout is None else timeout
        admitted = self.admission.acquire(priority, timeout)
        if not isinstance(admitted, Admitted):
            raise self._refused(admitted, time.monotonic() - started)
        try:
            conn = self._take(started + timeout, started)
        except BaseException:
            self.admission.release()
            raise
        now = time.monotonic()
        self.borrows.add(conn, now)
        if admitted.at_limit:
            self.sizing.note_demand()
        wait = now - started
        self.counters.checked_out(wait)
        signals.connection_checked_out.send(sender=AdaptivePool, alias=self.alias, wait=wait)
        return conn

    def _take(self, deadline: float, started: float) -> PooledConnection:
        """A live connection from psycopg_pool, for a request that holds a permit."""
        waiting = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._refused(Outcome.TIMED_OUT, time.monotonic() - started)
                try:
                    conn = self._upstream.getconn(min(remaining, SLICE))
                except psycopg_pool.PoolTimeout:
                    # Still opening one. Keep waiting, unless the database is gone.
                    if self.breaker.is_open:
                        raise self._unavailable() from None
                    if not waiting:
                        waiting = True
                        self._opening_waiters.add(1)
                    continue
                if self.health.usable(conn):
                    return conn
                # Dead or expired: psycopg_pool replaces a closed connection it gets back.
                conn.close()
                self._upstream.putconn(conn)
                if self.breaker.is_open:
                    raise self._unavailable()
        finally:
            if waiting:
                self._opening_waiters.add(-1)

    def putconn(self, conn: PooledConnection) -> None:
        borrow = self.borrows.remove(conn)
        now = time.monotonic()
        if borrow is not None:
            hold = now - borrow.since
            self.counters.returned(hold)
            signals.connection_returned.send(sender=AdaptivePool, alias=self.alias, hold=hold)
        if not conn.closed and not conn.autocommit and _idle(conn):
            # Django may hand back a connection it took out of autocommit.
            conn.autocommit = True
        if self.sizing.over_ceiling():
            self._upstream.retire(conn)
        else:
            conn.idle_since = now
            self._upstream.putconn(conn)
        if borrow is not None:
            self.admission.release()

    def record_query(self, seconds: float) -> None:
        """A query on one of this pool's connections took `seconds` (the learned limit's input)."""
        self.sizing.record_query(seconds, time.monotonic())

    def record_lost(self, reason: str) -> None:
        """A query found its connection dead: counted, and the server is looked at at once."""
        self.health.record_lost(reason)
        self.breaker.wake.set()

    # -- when there is no connection -------------------------------------------

    def _refused(self, outcome: Outcome, waited: float) -> ConnectionUnavailable:
        if outcome is Outcome.CLOSED or self.breaker.is_open:
            return self._unavailable()
        context: dict[str, Any] = {**self._pressure(), "waited": round(waited, 3)}
        if outcome is Outcome.REJECTED:
            self.counters.add(rejections=1)
            self.events.record(
                "rejected",
                logging.WARNING,
                "turned a request away: {waiting} already waiting, {in_use}/{limit} in use".format(
                    **context
                ),
                **context,
            )
            return PoolRejected(f"too many requests waiting for a connection to {self.alias!r}")
        if outcome is Outcome.SHED:
            self.counters.add(shed=1)
            self.events.record(
                "shed",
                logging.WARNING,
                "shed a new request after {waited} s: a queue has been standing, "
                "{in_use}/{limit} in use, {waiting} waiting".format(**context),
                **context,
            )
            return LoadShed(f"a queue is standing for connections to {self.alias!r}")
        self.sizing.request_look()
        self.counters.add(timeouts=1)
        self.events.record(
            "timeout",
            logging.WARNING,
            "no connection after {waited} s: {in_use}/{limit} in use, {waiting} waiting".format(
                **context
            ),
            **context,
        )
        return PoolTimeout(f"no connection to {self.alias!r} after {waited:.1f} s")

    def _unavailable(self) -> ConnectionUnavailable:
        self.counters.add(unavailable=1)
        return self.breaker.unavailable()

    def _pressure(self) -> dict[str, int]:
        return {
            "in_use": len(self.borrows),
            "limit": self.admission.limit,
            "ceiling": self._upstream.max_size,
            "waiting": self.admission.waiting,
        }

    def _breaker_opened(self) -> None:
        # Nobody waiting will be served until the database answers.
        self.admission.fail_all()

    def _server_full(self) -> None:
        self.sizing.request_look()

    # -- sizing ------------------------------------------------------------------

    def refresh_budget(self) -> Share | None:
        """Look at the server now and move the ceiling; None if it cannot be seen."""
        return self.sizing.refresh()

    def apply_share(self, share: Share) -> None:
        self.sizing.apply_share(share)

    def server_stats(self, max_age: float) -> ServerStats | None:
        return self.sizing.server_stats(max_age)

    def close_spare(self, now: float) -> None:
        """Close idle connections nobody can use, down to min_size.

        Handing out the most recently returned connection first (LIFO) means
        the ones idle longest are spare: above the learned limit once idle
        `LIMIT_SPARE_AFTER` (no more than the limit can be in use at once),
        and any above `min_size` once idle `max_idle`.
        """
        keep = max(self._upstream.min_size, self.sizing.limit.limit)
        self._upstream.close_idle(keep=keep, idle_before=now - LIMIT_SPARE_AFTER)
        self._upstream.close_idle(keep=self._upstream.min_size, idle_before=now - self.max_idle)

    @property
    def max_idle(self) -> float:
        return self.options.max_idle

    # -- the WAL position (replication.py) ----------------------------------------

    def read_wal_position(self) -> None:
        """The monitor's reading, on an idle connection, never a request's."""
        wal = self.wal
        if wal is None:
            return
        conn = self._upstream.borrow_idle()
        if conn is None:
            if wal.age() < WAL_BORROW_AFTER:
                return  # every connection busy this tick; the next will do
            try:
                conn = self._upstream.getconn(WAL_WAIT)
            except psycopg_pool.PoolTimeout:
                return
        try:
            wal.read(conn)
        except psycopg.Error as error:
            # A broken connection is dealt with as it goes back; a stale reading
            # tells the router not to trust this server for now.
            logger.debug("pool %s: cannot read the WAL position: %s", self.alias, error)
        finally:
            self._upstream.putconn(conn)

    # -- stats ---------------------------------------------------------------

    def stats(self) -> PoolStats:
        counters = self.counters.snapshot()
        in_use = len(self.borrows)
        idle = self._upstream.idle
        share = self.sizing.schedule.share
        limit = self.sizing.limit_state
        upstream = self._upstream.get_stats()
        return PoolStats(
            alias=self.alias,
            size=idle + in_use,
            idle=idle,
            in_use=in_use,
            waiting=self.admission.waiting + self._opening_waiters.value,
            min_size=self._upstream.min_size,
            max_size=self._upstream.max_size,
            limit=self.admission.limit,
            budget=share.share if share else self._upstream.max_size,
            peers=share.peers if share else 1,
            threads=self.options.threads or 0,
            breaker=self.breaker.state.value,
            standing_queue=self.admission.standing(),
            limit_recent_query=limit.recent,
            limit_baseline_query=limit.baseline,
            limit_gradient=limit.gradient,
            limit_throughput=limit.throughput,
            checkouts=int(counters["checkouts"]),
            timeouts=int(counters["timeouts"]),
            rejections=int(counters["rejections"]),
            shed=int(counters["shed"]),
            unavailable=int(counters["unavailable"]),
            breaker_trips=self.breaker.trips,
            opened=int(counters["opened"]),
            lost=int(counters["lost"]),
            leaks=self.borrows.leaks,
            resizes=int(counters["resizes"]),
            connection_errors=upstream.get("connections_errors", 0),
            wait_seconds_total=counters["wait_seconds_total"],
            hold_seconds_total=counters["hold_seconds_total"],
        )


class _Gauge:
    """A number several threads move up and down."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, amount: int) -> None:
        with self._lock:
            self.value += amount


def _idle(conn: PooledConnection) -> bool:
    return conn.pgconn.transaction_status == TransactionStatus.IDLE
