"""The shared cache's seam: every read and write goes through `FailSafeCache`.

A cache is an optimisation, so its failures must never be the shopper's: a
server that is down or slow costs a miss within a few milliseconds, never a
500, and a breaker stops paying even that while it stays down. Infrastructure
only: nothing here knows what is cached (the catalog decides that).
"""

from core.cache.breaker import BreakerState, CircuitBreaker
from core.cache.failsafe import FailSafeCache, breaker_for

__all__ = ["BreakerState", "CircuitBreaker", "FailSafeCache", "breaker_for"]
