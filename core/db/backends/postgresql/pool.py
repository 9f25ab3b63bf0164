"""AdaptivePool: psycopg_pool's ConnectionPool with what a web fleet needs.

psycopg_pool does the hard part (a thread-safe queue of connections, growing
while clients wait, shrinking idle ones, reconnecting in the background). On
top of it, and only where psycopg_pool stops, this adds:

- a ceiling that follows the fleet's connection budget (`budget.py`),
  recomputed by a monitor thread every 10-30 s and at once after a timeout;
- growth of several connections at once when many requests queue up, where
  psycopg_pool opens one at a time;
- a cheap liveness check at checkout (is the idle socket readable? then the
  server has hung up) instead of a round trip, and `max_lifetime` honoured at
  checkout, not only at return;
- reconnection backoff capped at a couple of seconds, so the pool heals
  within seconds of the database coming back, and fail-fast while it is down;
- distinct exceptions for "busy" and "down" (`errors.py`);
- leak detection with the borrower's stack, orphan reclaim, and counters for
  every event, read through `stats()` as a typed `PoolStats`.

It reaches into a few of psycopg_pool's private attributes (`_pool`,
`_waiting`, `_nconns`, `_lock`, `_max_size`): psycopg-pool is pinned to 3.3.x
in pyproject.toml for that reason, and tests/db/ exercises each of them.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import select
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.pq import ConnStatus, TransactionStatus
from psycopg_pool.base import AttemptWithBackoff
from psycopg_pool.pool import AddConnection, MaintenanceTask

from core.db.backends.postgresql import signals
from core.db.backends.postgresql.budget import ServerSampler, Share, compute_share, count_peers
from core.db.backends.postgresql.errors import DatabaseUnavailable, PoolRejected, PoolTimeout
from core.db.backends.postgresql.events import EventLog
from core.db.backends.postgresql.options import PoolOptions
from core.db.backends.postgresql.stats import PoolStats, ServerStats

logger = logging.getLogger("core.db.pool")

# Longest pause between two reconnection attempts: after a database restart
# the pool must notice within seconds, not after a minute of backoff.
MAX_RECONNECT_DELAY = 2.0
# How long after a failed connection attempt requests fail fast instead of
# queueing for a connection that cannot come.
FAIL_FAST_WINDOW = MAX_RECONNECT_DELAY * 2
# How long requests must have waited before the pool opens more connections,
# and the queue length from which it opens several at once.
GROW_AFTER = 0.02
SURGE = 4
# How often a returning connection is used to count our processes: a fleet
# that grows or shrinks is noticed within this, not at the next full look.
FLEET_CHECK_INTERVAL = 2.0
# Frames kept from a borrower's stack, innermost last.
STACK_DEPTH = 40
TOO_MANY_CONNECTIONS = pg_errors.TooManyConnections.sqlstate


class _GrowIfStillWaiting(MaintenanceTask):
    def _run(self, pool: AdaptivePool) -> None:  # type: ignore[override]
        with pool._lock:
            pool._grow_scheduled = False
            if pool._waiting:
                pool._grow_for_waiters()
                # Still not enough? Look again after the same delay.
                pool._grow_scheduled = True
                pool.schedule_task(_GrowIfStillWaiting(pool), GROW_AFTER)


class PooledConnection(psycopg.Connection[Any]):
    """A pooled connection that knows when it must be replaced, and since when it is idle."""

    expire_at: float = math.inf
    idle_since: float = 0.0


class _CappedBackoff(AttemptWithBackoff):
    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, MAX_RECONNECT_DELAY)


@dataclass(slots=True)
class Borrow:
    """A connection out of the pool: who took it, when, and from where."""

    conn: PooledConnection
    since: float
    thread: threading.Thread
    frames: list[tuple[CodeType, int]]
    reported: bool = False

    def stack(self) -> str:
        summary = traceback.StackSummary.from_list(
            [traceback.FrameSummary(c.co_filename, line, c.co_name) for c, line in self.frames]
        )
        return "".join(summary.format())


def _capture_frames() -> list[tuple[CodeType, int]]:
    """The caller's stack as (code, line) pairs: cheap to take, formatted only on a leak."""
    frame: FrameType | None = sys._getframe(2)
    frames: list[tuple[CodeType, int]] = []
    while frame is not None and len(frames) < STACK_DEPTH:
        frames.append((frame.f_code, frame.f_lineno))
        frame = frame.f_back
    frames.reverse()
    return frames


@dataclass(slots=True)
class _Counters:
    """Counters since the process started; the names are PoolStats's."""

    checkouts: int = 0
    timeouts: int = 0
    rejections: int = 0
    opened: int = 0
    lost: int = 0
    leaks: int = 0
    resizes: int = 0
    wait_seconds_total: float = 0.0
    hold_seconds_total: float = 0.0


@dataclass(slots=True)
class _BudgetState:
    share: Share | None = None
    # Set after a timeout or a refused connection: look again at the next tick.
    requested: bool = False
    next_at: float = 0.0
    fleet_check_at: float = 0.0


class AdaptivePool(psycopg_pool.ConnectionPool[PooledConnection]):
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
        self.events = EventLog(alias, sender=AdaptivePool)
        self.counters = _Counters()
        self._counter_lock = threading.Lock()
        self._borrowed: dict[int, Borrow] = {}
        self._last_connect_failure: tuple[float, Exception] | None = None
        self._budget = _BudgetState()
        self._sampler = ServerSampler(
            connect_kwargs, f"{fleet}-monitor{application_name[len(fleet) :]}"
        )
        self._monitor: threading.Thread | None = None
        self._stopping = threading.Event()
        self._grow_scheduled = False
        super().__init__(
            kwargs=connect_kwargs,
            connection_class=PooledConnection,
            min_size=options.min_size,
            # No more than the minimum until the budget has been looked at.
            max_size=max(options.min_size, 1),
            open=False,
            configure=configure,
            check=psycopg_pool.ConnectionPool.check_connection if round_trip_check else None,
            name=f"{alias}@{application_name}",
            timeout=options.timeout,
            max_waiting=options.max_waiting,
            max_lifetime=options.max_lifetime,
            max_idle=options.max_idle,
            reconnect_timeout=options.reconnect_timeout,
            num_workers=options.num_workers,
        )

    # -- lifecycle -----------------------------------------------------------

    def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        if not self._closed:
            return
        # Look at the server before the first connection: a process joining a
        # busy fleet must not grow into slots the others still hold.
        self._schedule_budget(self.refresh_budget())
        super().open(wait=wait, timeout=timeout)
        with self._lock:
            if self._monitor is None:
                self._monitor = threading.Thread(
                    target=self._monitor_loop, name=f"pool-monitor-{self.alias}", daemon=True
                )
                self._monitor.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        super().close(timeout=timeout)
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout)

    # -- checkout and return -------------------------------------------------

    def getconn(self, timeout: float | None = None) -> PooledConnection:
        started = time.monotonic()
        deadline = started + (self.timeout if timeout is None else timeout)
        while True:
            self._fail_fast_if_down()
            try:
                conn = super().getconn(max(deadline - time.monotonic(), 0.001))
            except psycopg_pool.TooManyRequests:
                raise self._rejected() from None
            except psycopg_pool.PoolTimeout:
                raise self._timed_out(time.monotonic() - started) from None
            if self._usable(conn):
                break
            self._discard(conn)
        now = time.monotonic()
        wait = now - started
        borrow = Borrow(conn, now, threading.current_thread(), _capture_frames())
        with self._counter_lock:
            self._borrowed[id(conn)] = borrow
            self.counters.checkouts += 1
            self.counters.wait_seconds_total += wait
        signals.connection_checked_out.send(sender=AdaptivePool, alias=self.alias, wait=wait)
        return conn

    def putconn(self, conn: PooledConnection) -> None:
        with self._counter_lock:
            borrow = self._borrowed.pop(id(conn), None)
        if borrow is not None:
            hold = time.monotonic() - borrow.since
            with self._counter_lock:
                self.counters.hold_seconds_total += hold
            signals.connection_returned.send(sender=AdaptivePool, alias=self.alias, hold=hold)
        if not conn.closed and not conn.autocommit and self._idle(conn):
            # Django may hand back a connection it took out of autocommit.
            conn.autocommit = True
        if self._over_ceiling():
            self._drop_returned(conn)
            return
        if time.monotonic() >= self._budget.fleet_check_at and not conn.closed and self._idle(conn):
            self._check_fleet(conn)
        conn.idle_since = time.monotonic()
        super().putconn(conn)

    def _check_fleet(self, conn: PooledConnection) -> None:
        """Count our processes on a connection in hand; look again at once if it changed."""
        self._budget.fleet_check_at = time.monotonic() + FLEET_CHECK_INTERVAL
        try:
            peers = count_peers(conn, self.fleet)
        except psycopg.Error:
            return  # a broken connection is dealt with as it goes back
        share = self._budget.share
        if share is None or peers != share.peers:
            self._budget.requested = True

    def _usable(self, conn: PooledConnection) -> bool:
        """Cheap checks only: no round trip on the hot path."""
        if conn.expire_at <= time.monotonic():
            # psycopg_pool closes and replaces it when it comes back.
            return False
        if conn.closed or conn.pgconn.status != ConnStatus.OK:
            self.record_lost("connection closed")
            return False
        # An idle connection has nothing to say; if its socket is readable,
        # the server has sent a farewell (shutdown, pg_terminate_backend)
        # followed by EOF. Reading until EOF tells them apart from a notice.
        poller = select.poll()
        poller.register(conn.pgconn.socket, select.POLLIN)
        for _ in range(3):
            if not poller.poll(0):
                return True
            try:
                conn.pgconn.consume_input()
            except psycopg.OperationalError:
                self.record_lost("the server closed the connection")
                return False
        self.record_lost("the server keeps talking on an idle connection")
        return False

    def record_lost(self, reason: str) -> None:
        with self._counter_lock:
            self.counters.lost += 1
        self.events.record(
            "lost", logging.WARNING, f"dropped a dead connection ({reason})", reason=reason
        )

    def _discard(self, conn: PooledConnection) -> None:
        """Hand back a connection found unfit at checkout; psycopg_pool replaces it."""
        if conn.expire_at > time.monotonic():
            conn.close()
        super().putconn(conn)

    @staticmethod
    def _idle(conn: PooledConnection) -> bool:
        return conn.pgconn.transaction_status == TransactionStatus.IDLE

    # -- saturation and outages ---------------------------------------------

    def _fail_fast_if_down(self) -> None:
        failure = self._last_connect_failure
        if failure is None or self._pool:
            return
        failed_at, error = failure
        if time.monotonic() - failed_at < FAIL_FAST_WINDOW:
            raise DatabaseUnavailable(f"database {self.alias!r} is unreachable: {error}")

    def _rejected(self) -> PoolRejected:
        with self._counter_lock:
            self.counters.rejections += 1
        context = self._pressure()
        self.events.record(
            "rejected",
            logging.WARNING,
            "turned a request away: {waiting} already waiting, {in_use}/{ceiling} in use".format(
                **context
            ),
            **context,
        )
        return PoolRejected(f"too many requests waiting for a connection to {self.alias!r}")

    def _timed_out(self, waited: float) -> PoolTimeout | DatabaseUnavailable:
        self._budget.requested = True
        failure = self._last_connect_failure
        if failure is not None:
            return DatabaseUnavailable(f"database {self.alias!r} is unreachable: {failure[1]}")
        with self._counter_lock:
            self.counters.timeouts += 1
        context = {**self._pressure(), "waited": round(waited, 3)}
        self.events.record(
            "timeout",
            logging.WARNING,
            "no connection after {waited} s: {in_use}/{ceiling} in use, {waiting} waiting".format(
                **context
            ),
            **context,
        )
        return PoolTimeout(f"no connection to {self.alias!r} after {waited:.1f} s")

    def _pressure(self) -> dict[str, int]:
        return {
            "in_use": len(self._borrowed),
            "ceiling": self._max_size,
            "waiting": len(self._waiting),
        }

    # -- growth, reconnection (psycopg_pool hooks) ---------------------------

    def _get_ready_connection(self, timeout: float | None) -> PooledConnection | None:
        # psycopg_pool hands out the connection idle the longest (FIFO). With a
        # checkout per query that round-robins every backend and wakes a cold
        # server process each time; the one returned last (LIFO) is still warm,
        # costs a third of the overhead here, and leaves the idle tail to shrink.
        if timeout is not None and timeout <= 0.0:
            raise psycopg_pool.PoolTimeout()
        if self._pool:
            conn = self._pool.pop()
            self._nconns_min = min(self._nconns_min, len(self._pool))
            return conn
        if self.max_waiting and len(self._waiting) >= self.max_waiting:
            raise psycopg_pool.TooManyRequests(
                f"the pool {self.name!r} has already {len(self._waiting)} requests waiting"
            )
        return None

    def _maybe_grow_pool(self) -> None:
        # Called with the pool lock held, each time a request starts waiting.
        # With a connection per query, most waits end within a millisecond
        # when a connection comes back: growing at once (psycopg_pool's way)
        # opens connections that then sit idle. Grow only while requests are
        # still waiting GROW_AFTER later, unless there is no connection at
        # all (open, out or opening) to wait for.
        if self._nconns == 0:
            self._grow_for_waiters()
        elif not self._grow_scheduled:
            self._grow_scheduled = True
            self.schedule_task(_GrowIfStillWaiting(self), GROW_AFTER)

    def _grow_for_waiters(self) -> None:
        """Open connections for requests still waiting (pool lock held).

        One at a time while the queue is short, so that a moment's wait
        leaves no spare connection behind; half as many as are waiting, a
        few at a time, when it is long (a surge).
        """
        waiting = len(self._waiting)
        wanted = min(1 if waiting < SURGE else waiting // 2, self.num_workers)
        opening = self._nconns - len(self._pool) - len(self._borrowed)
        while opening < wanted and self._nconns < self._max_size:
            self._nconns += 1
            opening += 1
            self.run_task(AddConnection(self))

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        attempt = attempt or _CappedBackoff(timeout=self.reconnect_timeout)
        super()._add_connection(attempt, growing=growing)

    def _connect(self, timeout: float | None = None) -> PooledConnection:
        try:
            conn = super()._connect(timeout)
        except psycopg.Error as error:
            self._connect_failed(error)
            raise
        with self._counter_lock:
            self.counters.opened += 1
        if self._last_connect_failure is not None:
            self._last_connect_failure = None
            self.events.record("reconnected", logging.WARNING, "reaching the database again")
        self.events.record("opened", logging.DEBUG, "opened a connection")
        return conn

    def _connect_failed(self, error: psycopg.Error) -> None:
        if getattr(error, "sqlstate", None) == TOO_MANY_CONNECTIONS:
            # The server is full, not gone: our share is stale.
            self._budget.requested = True
            self.events.record(
                "connect_failed", logging.WARNING, f"server refused a connection: {error}"
            )
            return
        self._last_connect_failure = (time.monotonic(), error)
        self.events.record(
            "connect_failed", logging.WARNING, f"cannot reach the database: {error}".strip()
        )

    def _set_connection_expiry_date(self, conn: psycopg.BaseConnection[Any]) -> None:
        super()._set_connection_expiry_date(conn)
        assert isinstance(conn, PooledConnection)  # the only connection_class this pool makes
        # +/-10% so connections opened together in a surge do not expire
        # together; psycopg_pool's own check on return uses the same date.
        conn.expire_at = conn._expire_at = conn._created_at + self.max_lifetime * random.uniform(
            0.9, 1.1
        )

    # -- the ceiling ---------------------------------------------------------

    def apply_share(self, share: Share) -> None:
        """Move the ceiling to this process's share, closing idle connections above it."""
        self._budget.share = share
        old = self._max_size
        if share.ceiling == old:
            return
        self.resize(self._min_size, share.ceiling)
        with self._counter_lock:
            self.counters.resizes += 1
        self._trim_idle()
        self.events.record(
            "resize",
            logging.INFO,
            f"ceiling {old} -> {share.ceiling} "
            f"(share {share.share} of {share.available} slots among {share.peers} processes)",
            old=old,
            new=share.ceiling,
            peers=share.peers,
            budget=share.budget,
            available=share.available,
        )

    def _over_ceiling(self) -> bool:
        return self._nconns > self._max_size

    def _trim_idle(self) -> None:
        doomed = []
        with self._lock:
            while self._nconns > self._max_size and self._pool:
                doomed.append(self._pool.pop())
                self._nconns -= 1
        for conn in doomed:
            conn._pool = None
            conn.close()

    def _drop_returned(self, conn: PooledConnection) -> None:
        with self._lock:
            self._nconns -= 1
        conn._pool = None
        conn.close()

    def refresh_budget(self) -> Share | None:
        """Look at the server now and move the ceiling; None if it cannot be seen."""
        try:
            server = self._sampler.sample()
        except psycopg.Error as error:
            logger.debug("pool %s: cannot sample the server: %s", self.alias, error)
            return None
        share = compute_share(
            server,
            fleet=self.fleet,
            me=self.application_name,
            headroom=self.options.headroom,
            min_size=self._min_size,
            max_size=self.options.max_size,
            threads=self.options.threads,
        )
        self.apply_share(share)
        return share

    def server_stats(self, max_age: float) -> ServerStats | None:
        last = self._sampler.last
        if last is not None and time.time() - last.sampled_at <= max_age:
            return last
        try:
            return self._sampler.sample()
        except psycopg.Error:
            return last

    # -- the monitor thread --------------------------------------------------

    def _monitor_loop(self) -> None:
        """Budget every 10-30 s (or at once when asked), leaks and orphans twice a second."""
        while not self._stopping.wait(0.5):
            try:
                if self._budget.requested or time.monotonic() >= self._budget.next_at:
                    self._budget.requested = False
                    self._schedule_budget(self.refresh_budget())
                self._watch_borrowers()
                self._close_spare()
                self.events.flush()
            except Exception:
                # The monitor must outlive any surprise, or the ceiling would freeze.
                logger.exception("pool %s: monitor round failed", self.alias)

    def _schedule_budget(self, share: Share | None) -> None:
        """Next look in 10-30 s (jittered), or in a second if the server could not be seen."""
        interval = self.options.budget_interval
        delay = random.uniform(0.5 * interval, 1.5 * interval) if share else 1.0
        self._budget.next_at = time.monotonic() + delay

    def _close_spare(self) -> None:
        """Close connections idle longer than max_idle, down to min_size.

        psycopg_pool closes one idle connection per max_idle at most, so a
        pool grown by a burst stays large for minutes. Handing out the most
        recently returned connection first (LIFO) means the ones at the far
        end of the queue are the spare ones: they go as soon as they have
        been idle max_idle.
        """
        spare = []
        deadline = time.monotonic() - self.max_idle
        with self._lock:
            while (
                self._nconns > self._min_size and self._pool and self._pool[0].idle_since < deadline
            ):
                spare.append(self._pool.popleft())
                self._nconns -= 1
        for conn in spare:
            conn._pool = None
            conn.close()

    def _watch_borrowers(self) -> None:
        now = time.monotonic()
        with self._counter_lock:
            borrows = list(self._borrowed.values())
        for borrow in borrows:
            if not borrow.thread.is_alive():
                logger.warning(
                    "pool %s: thread %s ended holding a connection; returning it",
                    self.alias,
                    borrow.thread.name,
                )
                self.putconn(borrow.conn)
            elif not borrow.reported and now - borrow.since > self.options.leak_seconds:
                self._report_leak(borrow, now - borrow.since)

    def _report_leak(self, borrow: Borrow, held: float) -> None:
        borrow.reported = True
        with self._counter_lock:
            self.counters.leaks += 1
        stack = borrow.stack()
        self.events.record(
            "leak",
            logging.WARNING,
            f"connection held for {held:.1f} s (over {self.options.leak_seconds:g} s) "
            f"by thread {borrow.thread.name}, taken at:\n{stack}",
            held_for=round(held, 3),
            borrower=borrow.thread.name,
            stack=stack,
        )

    # -- stats ---------------------------------------------------------------

    def stats(self) -> PoolStats:
        with self._counter_lock:
            counters = dataclasses.replace(self.counters)
            in_use = len(self._borrowed)
        idle = len(self._pool)
        share = self._budget.share
        return PoolStats(
            alias=self.alias,
            size=idle + in_use,
            idle=idle,
            in_use=in_use,
            waiting=len(self._waiting),
            min_size=self._min_size,
            max_size=self._max_size,
            budget=share.share if share else self._max_size,
            peers=share.peers if share else 1,
            threads=self.options.threads or 0,
            **dataclasses.asdict(counters),
        )
