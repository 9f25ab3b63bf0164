"""How many connections this process may hold, and how many it should.

Two numbers bound the pool:

- the **ceiling**: this process's share of the fleet's connection budget
  (`budget.py`), never above `threads` or `max_size`. It is what the server
  can afford; psycopg_pool's `max_size` is set to it (`resize()`), and idle
  connections above it are closed at once, busy ones when they come back.
- the **limit**: what the measurements say helps (`limit.py`), between the
  minimum and the ceiling. It is the number of permits the deadline queue
  hands out (`admission.py`), so it bounds the connections in use, and the
  pool grows only as far as it.

The budget is looked at every 10-30 s (jittered), once before the first
connection, at once after a timeout or a "too many clients" refusal, and at
once when the fleet changes: every couple of seconds the monitor thread
counts our processes on an idle connection (never a request's thread).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg.pq import ConnStatus

from core.db.backends.postgresql.admission import Admission
from core.db.backends.postgresql.budget import ServerSampler, Share, compute_share, count_peers
from core.db.backends.postgresql.events import EventLog
from core.db.backends.postgresql.limit import ConcurrencyLimit, LimitState
from core.db.backends.postgresql.options import PoolOptions
from core.db.backends.postgresql.stats import Counters, ServerStats
from core.db.backends.postgresql.upstream import UpstreamPool

logger = logging.getLogger("core.db.pool")

# How often the monitor counts our processes on an idle connection: a fleet
# that grows or shrinks is noticed within this, not at the next full look.
FLEET_CHECK_INTERVAL = 2.0


@dataclass(slots=True)
class _Schedule:
    share: Share | None = None
    # Set after a timeout or a refused connection: look again at the next tick.
    requested: bool = False
    next_at: float = 0.0
    fleet_check_at: float = 0.0


class Sizing:
    def __init__(
        self,
        *,
        alias: str,
        options: PoolOptions,
        fleet: str,
        application_name: str,
        sampler: ServerSampler,
        upstream: UpstreamPool,
        admission: Admission,
        events: EventLog,
        counters: Counters,
        on_lost: Callable[[str], None],
    ) -> None:
        self.alias = alias
        self.options = options
        self.fleet = fleet
        self.application_name = application_name
        self.sampler = sampler
        self._upstream = upstream
        self._admission = admission
        self._events = events
        self._counters = counters
        self._on_lost = on_lost
        self.schedule = _Schedule()
        floor = max(1, options.min_size)
        # No more than the minimum until the budget has been looked at.
        self.limit = ConcurrencyLimit(floor=floor, ceiling=floor, tolerance=options.tolerance)
        self._limit_lock = threading.Lock()

    # -- the learned limit -----------------------------------------------------

    @property
    def limit_state(self) -> LimitState:
        return self.limit.state

    def record_query(self, seconds: float, now: float) -> None:
        """A query took `seconds`; maybe a window closes and the limit moves."""
        if not self.options.adaptive:
            return
        with self._limit_lock:
            changed = self.limit.record(seconds, now)
            limit = self.limit.effective
        if changed:
            self._admission.set_limit(limit)

    def note_demand(self) -> None:
        with self._limit_lock:
            self.limit.note_demand()

    # -- the ceiling ----------------------------------------------------------

    @property
    def ceiling(self) -> int:
        return self._upstream.max_size

    def request_look(self) -> None:
        """Look at the budget at the monitor's next tick (a timeout, a full server)."""
        self.schedule.requested = True

    def due(self, now: float) -> bool:
        return self.schedule.requested or now >= self.schedule.next_at

    def refresh(self) -> Share | None:
        """Look at the server now and move the ceiling; None if it cannot be seen."""
        self.schedule.requested = False
        try:
            server = self.sampler.sample()
        except psycopg.Error as error:
            logger.debug("pool %s: cannot sample the server: %s", self.alias, error)
            share = None
        else:
            share = compute_share(
                server,
                fleet=self.fleet,
                me=self.application_name,
                headroom=self.options.headroom,
                min_size=self._upstream.min_size,
                max_size=self.options.max_size,
                threads=self.options.threads,
            )
            self.apply_share(share)
        self._schedule_next(share)
        return share

    def apply_share(self, share: Share) -> None:
        """Move the ceiling to this process's share, closing idle connections above it."""
        self.schedule.share = share
        old = self._upstream.max_size
        with self._limit_lock:
            self.limit.set_bounds(self.limit.floor, share.ceiling)
            if not self.options.adaptive:
                self.limit.limit = share.ceiling
            limit = self.limit.effective
        self._admission.set_limit(limit)
        if share.ceiling == old:
            return
        self._upstream.resize(self._upstream.min_size, share.ceiling)
        self._counters.add(resizes=1)
        self._upstream.close_idle(keep=share.ceiling)
        self._events.record(
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

    def over_ceiling(self) -> bool:
        return self._upstream.size > self._upstream.max_size

    def _schedule_next(self, share: Share | None) -> None:
        """Next look in 10-30 s (jittered), or in a second if the server could not be seen."""
        interval = self.options.budget_interval
        delay = random.uniform(0.5 * interval, 1.5 * interval) if share else 1.0
        self.schedule.next_at = time.monotonic() + delay

    def check_fleet(self, now: float) -> None:
        """Count our processes on an idle connection; look again at once if it changed."""
        if now < self.schedule.fleet_check_at:
            return
        self.schedule.fleet_check_at = now + FLEET_CHECK_INTERVAL
        conn = self._upstream.borrow_idle()
        if conn is None:
            return  # all busy: a timeout, if it comes, asks for a look anyway
        try:
            peers = count_peers(conn, self.fleet)
        except psycopg.Error as error:
            peers = None
            if conn.closed or conn.pgconn.status != ConnStatus.OK:
                # Found dead here rather than at a checkout: still a lost connection.
                # psycopg_pool replaces it as it goes back.
                self._on_lost(f"the fleet check found it dead: {error}".strip())
        finally:
            self._upstream.putconn(conn)
        share = self.schedule.share
        if peers is not None and (share is None or peers != share.peers):
            self.schedule.requested = True

    def server_stats(self, max_age: float) -> ServerStats | None:
        last = self.sampler.last
        if last is not None and time.time() - last.sampled_at <= max_age:
            return last
        try:
            return self.sampler.sample()
        except psycopg.Error:
            return last
