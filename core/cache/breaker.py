"""A circuit breaker: after a few failures in a row, stop calling a server for a while.

A cache server that is down costs each call a refused connection (well under a
millisecond on one host) or, when it hangs or the network drops packets, the
full socket timeout. Multiplied by every cache call of every request, even a
few milliseconds add up. The breaker opens after `failures` unavailability
errors in a row; while open, callers skip the server entirely (a cache miss at
no cost). After `retry_after` seconds it lets exactly one call through as a
probe: success closes it, failure opens it for another `retry_after`.

Written by hand because the libraries that do this (pybreaker, circuitbreaker)
wrap a callable in their own exception flow, and the cache seam needs the
states themselves: "skip without calling" is a miss, not an exception. The
shape follows psycopg_pool: one object, explicit states, `stats()` as a plain
dict, and a public `on_change` callback.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from typing import Any


class BreakerState(enum.Enum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls are skipped until retry_after has passed
    HALF_OPEN = "half_open"  # one probe call is in flight; the others are skipped


class CircuitBreaker:
    """Thread-safe; the closed path (every call while the server is fine) takes no lock."""

    def __init__(
        self,
        *,
        failures: int = 3,
        retry_after: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures must be at least 1, not {failures}")
        if retry_after <= 0:
            raise ValueError(f"retry_after must be positive, not {retry_after}")
        self.failures = failures
        self.retry_after = retry_after
        self.on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        # When the breaker last opened, or when the current probe started.
        self._since = 0.0
        self._opened = 0

    @property
    def state(self) -> BreakerState:
        return self._state

    def allow(self) -> bool:
        """May the caller use the server now? False means: skip it, as a miss."""
        if self._state is BreakerState.CLOSED:
            return True
        return self._allow_probe()

    def _allow_probe(self) -> bool:
        with self._lock:
            if self._state is BreakerState.CLOSED:  # closed by another thread meanwhile
                return True
            # A probe that never reported (its thread died) must not hold the
            # breaker half-open forever: after retry_after another one may go.
            if self._clock() - self._since < self.retry_after:
                return False
            before, self._state = self._state, BreakerState.HALF_OPEN
            self._since = self._clock()
        self._changed(before, BreakerState.HALF_OPEN)
        return True

    def record_success(self) -> None:
        """The server answered (even with an error of its own: it is reachable)."""
        if self._state is BreakerState.CLOSED and self._consecutive == 0:
            return
        with self._lock:
            self._consecutive = 0
            before, self._state = self._state, BreakerState.CLOSED
        self._changed(before, BreakerState.CLOSED)

    def record_failure(self) -> None:
        """The server could not be reached or did not answer in time."""
        with self._lock:
            self._consecutive += 1
            before = self._state
            if before is BreakerState.HALF_OPEN or (
                before is BreakerState.CLOSED and self._consecutive >= self.failures
            ):
                self._state = BreakerState.OPEN
                self._since = self._clock()
                self._opened += 1
        self._changed(before, self._state)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            waiting = self._state is not BreakerState.CLOSED
            return {
                "state": self._state.value,
                "consecutive_failures": self._consecutive,
                "failures_to_open": self.failures,
                "retry_after": self.retry_after,
                "seconds_until_probe": max(0.0, self.retry_after - (self._clock() - self._since))
                if waiting
                else 0.0,
                "times_opened": self._opened,
            }

    def _changed(self, before: BreakerState, after: BreakerState) -> None:
        if before is not after and self.on_change is not None:
            self.on_change(before, after)
