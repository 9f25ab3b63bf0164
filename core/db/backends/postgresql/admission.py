"""Who may use a connection now, who waits and in what order, and who is turned away.

The pool's connections are handed out through permits, as many as the
learned limit (`limit.py`); psycopg_pool below only ever sees requests that
hold one. That leaves the order of waiting and the decision to give up to
this module:

**Priority.** A freed permit goes to the most important waiter, oldest first
within a class:

1. `URGENT`: marked by the application (`priority.urgent()`; WidgetWorld
   marks checkout POSTs): a shopper paying;
2. `CONTINUING`: a request that has already had a connection: finishing what
   was started frees its thread (and the page's other queries) soonest, and
   turning it away would waste the work done;
3. `NEW`: a request's first query, the cheapest one to turn away.

**The deadline queue (CoDel).** A moment's queue is normal and is absorbed:
every request may wait up to the checkout timeout. A *standing* queue is not:
when the oldest waiter has been waiting longer than `target` for at least
`interval` (CoDel's test, as in Facebook's "Fail at Scale" queues), waiting
longer only makes every answer late. Then a `NEW` request that cannot be
served within `target` is turned away with `LoadShed` (a fast 503 with
`Retry-After`) instead of waiting out the timeout, and `NEW` waiters already
past the target are turned away too. `CONTINUING` and `URGENT` requests are
never shed; they wait up to the timeout as before. The queue stops being
standing as soon as a waiter is served within the target or it empties.

**max_waiting** still bounds the queue: a request beyond it is turned away at
once (`PoolRejected`), except an `URGENT` one.

The clock is injectable so tests can drive the queue without sleeping.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.db.backends.postgresql.priority import Priority

# CoDel's two numbers, for a database checkout rather than a packet: a page
# waiting 100 ms for one query is already slow, and a queue that does not
# drain within a second is overload, not a burst (docs/data-layer.md).
TARGET = 0.1
INTERVAL = 1.0


class Outcome(enum.Enum):
    GRANTED = "granted"
    TIMED_OUT = "timed_out"
    REJECTED = "rejected"  # max_waiting reached
    SHED = "shed"  # standing queue, past the target
    CLOSED = "closed"  # the pool is going away (breaker open, closing)


class _Waiter:
    __slots__ = ("enqueued", "event", "outcome", "priority")

    def __init__(self, priority: Priority, enqueued: float) -> None:
        self.priority = priority
        self.enqueued = enqueued
        self.event = threading.Event()
        self.outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Admitted:
    waited: float  # seconds spent waiting for the permit
    # The limit was reached: this checkout took the last permit, or waited for
    # one. The learned limit only moves when it is binding (limit.py).
    at_limit: bool


class Admission:
    def __init__(
        self,
        limit: int,
        *,
        max_waiting: int = 0,
        target: float = TARGET,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.max_waiting = max_waiting
        self.target = target
        self.interval = interval
        self.clock = clock
        self.lock = threading.Lock()
        self.in_flight = 0
        self._queues: tuple[deque[_Waiter], ...] = tuple(deque() for _ in Priority)
        self._waiting = 0
        # Since when the oldest waiter has been past the target (CoDel's first_above_time).
        self._above_since: float | None = None

    # -- reading --------------------------------------------------------------

    @property
    def waiting(self) -> int:
        return self._waiting

    def standing(self) -> bool:
        """A standing queue: waits above the target for at least an interval."""
        with self.lock:
            return self._standing(self.clock())

    # -- the two hot calls ----------------------------------------------------

    def acquire(self, priority: Priority, timeout: float) -> Outcome | Admitted:
        """A permit, or why not. Never raises: the pool turns outcomes into errors."""
        with self.lock:
            if self.in_flight < self.limit and not self._waiting:
                self.in_flight += 1
                return _AT_LIMIT if self.in_flight >= self.limit else _NO_WAIT
            now = self.clock()
            full = self.max_waiting and self._waiting >= self.max_waiting
            if full and priority is not Priority.URGENT:
                return Outcome.REJECTED
            budget = timeout
            if priority is Priority.NEW and self._standing(now):
                self._shed_overdue(now)
                budget = min(timeout, self.target)
            waiter = _Waiter(priority, now)
            self._queues[priority].append(waiter)
            self._waiting += 1
        waiter.event.wait(budget)
        with self.lock:
            if waiter.outcome is None:
                self._remove(waiter)
                now = self.clock()
                if budget >= timeout:
                    # Waited the whole timeout: the queue stands (a shed request
                    # waited the target only, which says nothing new).
                    self._note_wait(max(now - waiter.enqueued, budget), now)
                waiter.outcome = Outcome.SHED if budget < timeout else Outcome.TIMED_OUT
        if waiter.outcome is Outcome.GRANTED:
            return Admitted(self.clock() - waiter.enqueued, at_limit=True)
        return waiter.outcome

    def release(self) -> None:
        """Give the permit back, or hand it straight to the next waiter."""
        with self.lock:
            if self._waiting and self.in_flight <= self.limit:
                waiter = self._next()
                now = self.clock()
                self._note_wait(now - waiter.enqueued, now)
                waiter.outcome = Outcome.GRANTED
                waiter.event.set()
                return
            self.in_flight -= 1
            if not self._waiting:
                self._above_since = None

    # -- changes from outside ---------------------------------------------------

    def set_limit(self, limit: int) -> None:
        """A new learned limit; a higher one lets waiters in at once."""
        with self.lock:
            self.limit = limit
            while self._waiting and self.in_flight < self.limit:
                waiter = self._next()
                self.in_flight += 1
                waiter.outcome = Outcome.GRANTED
                waiter.event.set()

    def fail_all(self) -> None:
        """Wake every waiter with CLOSED: the database is down, nobody will be served."""
        with self.lock:
            for queue in self._queues:
                while queue:
                    waiter = queue.popleft()
                    waiter.outcome = Outcome.CLOSED
                    waiter.event.set()
            self._waiting = 0
            self._above_since = None

    # -- inside the lock ----------------------------------------------------------

    def _next(self) -> _Waiter:
        for queue in self._queues:
            if queue:
                self._waiting -= 1
                return queue.popleft()
        raise AssertionError("no waiter")  # callers check self._waiting first

    def _remove(self, waiter: _Waiter) -> None:
        self._queues[waiter.priority].remove(waiter)
        self._waiting -= 1

    def _note_wait(self, waited: float, now: float) -> None:
        """CoDel's bookkeeping: a wait that ended, served or timed out."""
        if waited <= self.target:
            self._above_since = None
        elif self._above_since is None:
            self._above_since = now

    def _oldest(self) -> float | None:
        heads = [queue[0].enqueued for queue in self._queues if queue]
        return min(heads) if heads else None

    def _standing(self, now: float) -> bool:
        oldest = self._oldest()
        if oldest is not None and now - oldest > self.target and self._above_since is None:
            self._above_since = oldest + self.target
        return self._above_since is not None and now - self._above_since >= self.interval

    def _shed_overdue(self, now: float) -> None:
        """NEW waiters already past the target leave now, not at their timeout."""
        queue = self._queues[Priority.NEW]
        while queue and now - queue[0].enqueued > self.target:
            waiter = queue.popleft()
            self._waiting -= 1
            waiter.outcome = Outcome.SHED
            waiter.event.set()


_NO_WAIT = Admitted(0.0, at_limit=False)
_AT_LIMIT = Admitted(0.0, at_limit=True)
