"""The learned ceiling: how many connections at once actually make things faster.

The fleet budget (`budget.py`) says how many connections this process *may*
hold; this says how many it *should*. On a host whose cores are already busy,
more concurrent queries only queue for the same CPU: each takes longer and no
more get done (issue 12: the static pool of 2 per process beat a pool that
grew whenever requests waited). So the effective limit follows measured
benefit, in the way of TCP Vegas and Netflix's gradient limiter, on the time a
connection is held (query time, as the pool sees it):

- Query times (each `execute()`, as the request thread saw it: server time,
  network, and waiting for the GIL among the process's threads) are grouped
  into windows of `WINDOW` queries. For each window the limiter knows the
  mean query time (*recent*), how many checkouts reached the limit (took the
  last permit or waited for one: *demand*), and the throughput.
- *baseline* is the query time without contention from this pool, measured
  the way Envoy's adaptive concurrency filter measures its minimum RTT: when
  there is demand, every `PROBE_INTERVAL` seconds one window runs at the
  floor, and its mean becomes the baseline. Re-measuring (rather than keeping
  the lowest value ever seen) means a workload that got slower for good is
  learnt at the next probe, and the baseline cannot drift up with the limit.
  Until the first probe, the lowest window mean seen stands in.
- The limit only moves when it is binding, that is when checkouts reached it
  during the window: otherwise slower queries come from elsewhere (a heavier
  page, a busy server) and fewer connections would not help.
- *gradient* = baseline / recent. If recent > tolerance x baseline, more
  connections are only adding contention: the limit backs off in proportion,
  `limit x max(0.5, tolerance x gradient)` (at least by one).
- Otherwise one more connection is tried (additive increase).
- The limit never leaves [floor, ceiling]: the floor is the pool's minimum
  (at least 1), the ceiling the budget share (`budget.py`).

It starts at the ceiling, so a pool serves as many at once as configured
until measurements say otherwise (what a Django pool user expects from
`max_size`), and with demand the first window is a probe, so it backs off
within a few windows on a host that cannot use more.

Pure arithmetic on the numbers given: no clock, no threads, no sleeping, so a
test can drive it with injected latencies. The pool calls `record()` for
every query and `note_demand()` for every checkout that reached the limit,
under a lock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Queries per window: enough that one slow query does not decide, few enough
# that a busy pool (hundreds of queries a second) adapts within a second.
WINDOW = 32
# Seconds between two baseline probes (one window each at the floor): often
# enough to follow a changing workload, rare enough that the probe's extra
# queueing (tens of milliseconds for waiting requests) does not matter.
PROBE_INTERVAL = 15.0
# How much slower than the baseline queries may get before the limit backs
# off: queries vary by page, and a limit that shrinks at the first wobble
# would starve a pool that is doing fine (Netflix's gradient2 uses 1.5-2).
TOLERANCE = 1.5
# The most one window may cut the limit by (halving, as TCP does).
MAX_BACKOFF = 0.5


@dataclass(frozen=True, slots=True)
class LimitState:
    """The learned limit and what it was learnt from (the gauge and its inputs)."""

    limit: int
    recent: float  # mean seconds per query, last window
    baseline: float  # lowest window mean in the memory
    gradient: float  # baseline / recent: 1.0 means no contention
    throughput: float  # queries per second, last window
    demand: int  # checkouts that reached the limit, last window


class ConcurrencyLimit:
    def __init__(
        self,
        *,
        floor: int,
        ceiling: int,
        tolerance: float = TOLERANCE,
        window: int = WINDOW,
        probe_interval: float = PROBE_INTERVAL,
    ) -> None:
        self.tolerance = tolerance
        self.window = window
        self.probe_interval = probe_interval
        self.floor = max(1, floor)
        self.ceiling = max(self.floor, ceiling)
        self.limit = self.ceiling
        self.probing = False
        self._baseline: float | None = None  # from the last probe
        self._lowest: float | None = None  # lowest window mean before any probe
        self._next_probe = 0.0
        self._count = 0
        self._total = 0.0
        self._demand = 0
        self._started: float | None = None
        self._state = LimitState(self.limit, 0.0, 0.0, 1.0, 0.0, 0)

    @property
    def state(self) -> LimitState:
        return self._state

    @property
    def effective(self) -> int:
        """Permits to hand out now: the floor during a probe window, else the limit."""
        return self.floor if self.probing else self.limit

    def set_bounds(self, floor: int, ceiling: int) -> None:
        """New budget share (or minimum): the limit moves inside them at once.

        A limit at its ceiling (nothing learnt against it yet) follows the
        ceiling up; one that was learnt lower stays where it was.
        """
        unconstrained = self.limit >= self.ceiling
        self.floor = max(1, floor)
        self.ceiling = max(self.floor, ceiling)
        if unconstrained:
            self.limit = self.ceiling
        self.limit = min(max(self.limit, self.floor), self.ceiling)
        self._state = dataclasses.replace(self._state, limit=self.limit)

    def note_demand(self) -> None:
        """A checkout reached the limit (took the last permit, or waited for one)."""
        self._demand += 1

    def record(self, latency: float, now: float) -> bool:
        """One query's time; True when a window closed and `effective` changed."""
        if self._started is None:
            self._started = now
        self._count += 1
        self._total += latency
        if self._count < self.window:
            return False
        before = self.effective
        self._close_window(now)
        return self.effective != before

    def _close_window(self, now: float) -> None:
        recent = self._total / self._count
        demand = self._demand
        elapsed = now - (self._started or now)
        throughput = self._count / elapsed if elapsed > 0 else 0.0
        self._count, self._total, self._demand, self._started = 0, 0.0, 0, None

        if self.probing or self.limit == self.floor:
            # At the floor, every window is a measurement without contention.
            was_probe, self.probing = self.probing, False
            self._baseline = recent
            if was_probe:
                return
        if self._baseline is None:
            self._lowest = recent if self._lowest is None else min(self._lowest, recent)
        baseline = self._baseline if self._baseline is not None else self._lowest or recent
        gradient = baseline / recent if recent > 0 else 1.0

        old = self.limit
        if demand and recent > self.tolerance * baseline:
            cut = max(MAX_BACKOFF, self.tolerance * gradient)
            self.limit = max(self.floor, min(old - 1, int(old * cut)))
        elif demand and old < self.ceiling:
            self.limit = old + 1
        if demand and now >= self._next_probe and self.limit > self.floor:
            self.probing = True
            self._next_probe = now + self.probe_interval
        self._state = LimitState(self.limit, recent, baseline, gradient, throughput, demand)
