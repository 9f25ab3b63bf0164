"""Copies of values made from the database, shared through the cache: the catalog's cache policy.

`Copies.fetch(key, make)` answers with a copy of `make()`'s value, and decides
when `make` (queries and rendering) must run. A copy records the catalog
version it was made at and when:

- **hit**: the copy's version is current (and it is younger than
  `fresh_for`, the bound for writes no signal reports). No query.
- **miss**: no current copy; this request holds the key's render lock (a
  `SET NX` with a timeout), makes the value, stores it for `keep_for`, and
  lets go. One render per key across every process, so a hot key that goes
  stale during a surge is rendered once.
- **previous**: another request holds the lock: the copy before, at once.
- **waited**: another request holds the lock and there is no copy at all (a
  cold start): wait for its copy, polling, at most `wait` seconds, then make
  it ourselves. The renderer letting go without storing (an error page, a
  failure) ends the wait at once.
- **stale**: `make` raised `ConnectionUnavailable` (database down, pool busy),
  or the database is known to be down: the last good copy, however old
  (up to `keep_for`), marked with why. No copy at all: the error propagates
  (the friendly 503).
- **uncached**: the cache cannot be used (down, or its breaker open): `make`
  runs every time and nothing is stored; pages render as if nothing were
  cached.

The last good copy is read as the cache's *last resort*
(`FailSafeCache.get(..., last_resort=True)`): past the cache's breaker and
with CACHE_OUTAGE_TIMEOUT_MS rather than the everyday few milliseconds,
because its only alternative is a 503. A cache that is merely slow while
the database is up still costs a render, never that longer wait: the
last-resort read happens only once the database is known down (the pool's
breaker, asked first: no version read, no lock) or a render has just
failed for want of it.

Written by hand: Django's cache framework has no single-flight or
stale-if-error, and the libraries that add them (django-cacheops,
django-cache-memoize) key by function arguments and know nothing of a
catalog version or of our database's failure modes.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings

from catalog.caching import metrics
from catalog.caching.degraded import DATABASE_UNAVAILABLE, Stale, database_down, reason_of
from catalog.caching.version import CatalogVersion, catalog_version
from core.cache import FailSafeCache
from core.db.backends.postgresql.errors import ConnectionUnavailable
from core.db.routing.router import replayed

T = TypeVar("T")

# A renderer that died holding its lock frees the key after this long.
LOCK_SECONDS = 10.0
# First and longest pause between two looks at a key another request renders.
POLL_FIRST = 0.002
POLL_LONGEST = 0.02


class Outcome(enum.StrEnum):
    HIT = "hit"
    MISS = "miss"
    PREVIOUS = "previous"
    WAITED = "waited"
    STALE = "stale"
    UNCACHED = "uncached"


@dataclass(frozen=True)
class Copy(Generic[T]):
    """What the cache holds under a key: the value, the version it was made at, and when."""

    value: T
    version: int
    made_at: float


@dataclass(frozen=True)
class Fetched(Generic[T]):
    value: T
    outcome: Outcome
    # The catalog version the value was made at; None when made with the cache unusable.
    version: int | None
    made_at: float
    stale: Stale | None = None


def _always(value: Any) -> bool:
    return True


class Copies:
    def __init__(
        self,
        cache: FailSafeCache,
        version: CatalogVersion,
        *,
        fresh_for: float,
        keep_for: float,
        wait: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        known_down: Callable[[], bool] = database_down,
    ) -> None:
        self.cache = cache
        self.version = version
        self.fresh_for = fresh_for
        self.keep_for = keep_for
        self.wait = wait
        self._clock = clock
        self._sleep = sleep
        self._known_down = known_down

    def fetch(
        self,
        key: str,
        make: Callable[[], T],
        *,
        label: str,
        keep: Callable[[T], bool] = _always,
    ) -> Fetched[T]:
        """A copy of `make()`'s value for `key`; `keep(value)` False means never store it."""
        fetched = self._fetch(key, make, label, keep)
        metrics.REQUESTS.labels(label, fetched.outcome.value).inc()
        return fetched

    def _fetch(
        self, key: str, make: Callable[[], T], label: str, keep: Callable[[T], bool]
    ) -> Fetched[T]:
        if self._known_down():
            last_good: Copy[T] | None = self._last_good(key)
            if last_good is not None:
                return self._stale(last_good, DATABASE_UNAVAILABLE)
            # No copy: the render, which the pool's breaker refuses at once (the
            # friendly 503), without a lock to take or a second last-resort read.
            return Fetched(self._make(make, label), Outcome.UNCACHED, None, self._clock())
        version = self.version.current()
        if version is None:
            return self._uncached(key, make, label)
        copy: Copy[T] | None = self.cache.get(key)
        if copy is not None and self._current(copy, version):
            self.version.saw(copy.version)
            return Fetched(copy.value, Outcome.HIT, copy.version, copy.made_at)

        lock = f"{key}:render"
        if self.cache.add(lock, uuid.uuid4().hex, LOCK_SECONDS):
            # Another request may have stored it and let go between our read and our lock.
            latest: Copy[T] | None = self.cache.get(key)
            if latest is not None and self._current(latest, version):
                self.cache.delete(lock)
                return Fetched(latest.value, Outcome.HIT, latest.version, latest.made_at)
            return self._refresh(key, lock, version, latest or copy, make, label, keep)
        if not self.cache.available:
            return self._refresh(key, None, version, copy, make, label, keep)
        if copy is not None:
            return Fetched(copy.value, Outcome.PREVIOUS, copy.version, copy.made_at)
        started = self._clock()
        waited: Copy[T] | None = self._wait_for(key, lock, started)
        result = "served" if waited is not None else "rendered"
        metrics.WAITS.labels(label, result).observe(self._clock() - started)
        if waited is not None:
            return Fetched(waited.value, Outcome.WAITED, waited.version, waited.made_at)
        return self._refresh(key, None, version, None, make, label, keep)

    def _current(self, copy: Copy[Any], version: int) -> bool:
        return copy.version >= version and self._clock() - copy.made_at < self.fresh_for

    def _refresh(
        self,
        key: str,
        lock: str | None,
        version: int,
        copy: Copy[T] | None,
        make: Callable[[], T],
        label: str,
        keep: Callable[[T], bool],
    ) -> Fetched[T]:
        """Make the value (holding `lock` when not None), store it, let go of the lock."""
        try:
            made_at = self._clock()
            try:
                value = self._make(make, label, version)
            except ConnectionUnavailable as error:
                last_good = copy or self._last_good(key)
                if last_good is None:
                    raise
                return self._stale(last_good, reason_of(error), error.retry_after)
            if keep(value):
                self.cache.set(key, Copy(value, version, made_at), self.keep_for)
        finally:
            if lock is not None:
                self.cache.delete(lock)
        return Fetched(value, Outcome.MISS, version, made_at)

    def _uncached(self, key: str, make: Callable[[], T], label: str) -> Fetched[T]:
        """Made without the cache's help; should the database fail too, its last good copy."""
        made_at = self._clock()
        try:
            value = self._make(make, label)
        except ConnectionUnavailable as error:
            last_good: Copy[T] | None = self._last_good(key)
            if last_good is None:
                raise
            return self._stale(last_good, reason_of(error), error.retry_after)
        return Fetched(value, Outcome.UNCACHED, None, made_at)

    def _last_good(self, key: str) -> Copy[T] | None:
        """The copy under `key` when nothing else can answer: the cache's last resort."""
        copy: Copy[T] | None = self.cache.get(key, last_resort=True)
        return copy

    def _make(self, make: Callable[[], T], label: str, version: int | None = None) -> T:
        """The one path every render takes; one stored under `version` shows all it stands for.

        With read replicas, a render to store under `version` reads only from
        a replica that has replayed the primary's position recorded for it
        (`version.py`), or from the primary: a replica behind the write that
        moved the version on would otherwise store the rows from before it,
        for every shopper (the writer, whose own reads go to the primary,
        included) until the next change.
        """
        with metrics.RENDERS.labels(label).time():
            if version is None:
                return make()
            with replayed(lambda: self.version.position(version)):
                return make()

    def _wait_for(self, key: str, lock: str, started: float) -> Copy[T] | None:
        """Another request's copy, or None once it let go without one or `wait` is up."""
        pause = POLL_FIRST
        while (left := started + self.wait - self._clock()) > 0:
            self._sleep(min(pause, left))
            pause = min(pause * 2, POLL_LONGEST)
            found = self.cache.get_many([key, lock])
            copy: Copy[T] | None = found.get(key)
            if copy is not None:
                return copy
            if lock not in found:
                return None
        return None

    def _stale(self, copy: Copy[T], reason: str, retry_after: int | None = None) -> Fetched[T]:
        stale = Stale.at(reason, copy.made_at, retry_after)
        return Fetched(copy.value, Outcome.STALE, copy.version, copy.made_at, stale)


def catalog_copies(name: str, *, brief: bool = False) -> Copies:
    """The catalog's policy as configured now; `name` labels the cache's hits and misses.

    `brief` copies are kept only while they may be fresh (CATALOG_CACHE_FRESH),
    not for CATALOG_CACHE_KEEP: for values keyed by free-form input, whose
    keys have no end. Cheap to make per call (the version is the process's
    one), so that tests can change the settings.
    """
    fresh = settings.CATALOG_CACHE_FRESH
    return Copies(
        FailSafeCache(name=name),
        catalog_version(),
        fresh_for=fresh,
        keep_for=fresh if brief else settings.CATALOG_CACHE_KEEP,
        wait=settings.CATALOG_CACHE_WAIT_MS / 1000,
    )
