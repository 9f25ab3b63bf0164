"""The catalog version: which cached copies are still current, learnt without a query.

One integer in the shared cache (`catalog:version`), moved on by
`catalog_changed()` once every transaction that wrote widgets or categories
commits (the models' signals call it; so do writes that send none, such as
checkout's `bulk_update`). A copy made at an older version is stale.

Each process keeps the value it last read for `CATALOG_VERSION_TTL` seconds
(1 s), so a page served from the cache costs no round trip to learn it; a
process that writes moves its own copy at once, and one that meets a copy made
at a newer version moves forward to it. So a change shows on the process that
made it at once, and on every other within `CATALOG_VERSION_TTL`.

Moved on after commit, never before: a render that started before the commit
reads the old rows and is labelled with the old version, so it can never be
taken for the new one. A version key lost with the cache's memory starts again
from the clock (milliseconds), above every value it had before.

With read replicas, each version also records where the primary's WAL stood
once it was published (`catalog:version:<n>:wal`, read after the increment,
so past the commit of every write the version stands for). A miss rendered
for version n reads only from a replica that has replayed that far, or from
the primary (`copies.py`): a copy labelled n never holds rows from before a
write n stands for, whoever made it. Without replicas nothing is recorded.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from functools import cache, partial

from django.conf import settings
from django.db import transaction

from core.cache import FailSafeCache
from core.db.routing.writes import primary_position

logger = logging.getLogger("catalog.caching")

KEY = "catalog:version"


class CatalogVersion:
    """This process's view of the shared catalog version; thread-safe, lock-free to read."""

    def __init__(
        self,
        cache: FailSafeCache,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._known: int | None = None
        self._read_at = -math.inf
        # The highest version this process has seen: a version started again is above it.
        self._highest = 0

    def current(self) -> int | None:
        """The version, at most `ttl` seconds old; None when the cache cannot say (cache down)."""
        known = self._known
        if known is not None and self._clock() - self._read_at < self.ttl:
            return known
        value = self.cache.get(KEY)
        if value is None and self.cache.add(KEY, seed := self._seed()):
            value = seed
            self._record_position(seed)
        elif value is None:  # someone else seeded it meanwhile, or the cache failed
            value = self.cache.get(KEY)
        self._remember(value if isinstance(value, int) else None)
        return self._known

    def saw(self, version: int) -> None:
        """A copy was made at `version`: never go back to an older one."""
        with self._lock:
            if self._known is not None and version > self._known:
                self._known = version
                self._highest = max(self._highest, version)

    def forget(self) -> None:
        """Ask the cache at the next call (its content was replaced: a flush, a new server)."""
        with self._lock:
            self._known, self._read_at = None, -math.inf

    def bump(self) -> None:
        """The catalog changed (and committed): every copy made before is stale."""
        value = self.cache.incr(KEY)
        if value is None:
            self.cache.add(KEY, self._seed())
            value = self.cache.incr(KEY)
        if value is None:
            logger.warning(
                "catalog change not published (the cache did not answer): cached pages may "
                "show the old catalog for up to CATALOG_CACHE_FRESH (%s s)",
                settings.CATALOG_CACHE_FRESH,
            )
        self._remember(value)
        if value is not None:
            self._record_position(value)

    def position(self, version: int) -> int | None:
        """The primary's WAL position recorded for `version`; None when unknown.

        Unknown: not recorded yet (the writer is between its increment and
        this record), lost with the cache's memory, or the primary could not
        say. A render for it then reads from the primary.
        """
        value = self.cache.get(_position_key(version))
        return value if isinstance(value, int) else None

    def _record_position(self, version: int) -> None:
        """Where the primary's WAL stands now, as the position `version` needs (replicas only).

        Kept until the next version replaces it, however long the catalog stays
        unchanged: a version's misses need it for as long as it is current.
        """
        position = primary_position()
        if position is None:
            return
        self.cache.set(_position_key(version), position, None)
        # A process still on the version before (for CATALOG_VERSION_TTL) then
        # renders from the primary: safe, and brief.
        self.cache.delete(_position_key(version - 1))

    def _remember(self, value: int | None) -> None:
        with self._lock:
            self._known, self._read_at = value, self._clock()
            self._highest = max(self._highest, value or 0)

    def _seed(self) -> int:
        """A first value above any this key may have had: the clock in ms, or past what we saw."""
        return max(int(time.time() * 1000), self._highest + 1)


def _position_key(version: int) -> str:
    return f"{KEY}:{version}:wal"


@cache
def catalog_version() -> CatalogVersion:
    """The process's one CatalogVersion on the default cache."""
    return CatalogVersion(FailSafeCache(name="catalog_version"), ttl=settings.CATALOG_VERSION_TTL)


# Per thread (a transaction belongs to one): how many changes were reported,
# and how many of them the last publication covered.
_changes = threading.local()


def catalog_changed() -> None:
    """Call from inside the write: the version moves on once its transaction commits.

    Once per commit, however many rows it wrote (a bulk delete sends a signal
    per row): a commit runs its callbacks after every change it holds was
    reported, so the first callback publishes them all and the rest see that.
    """
    number = getattr(_changes, "reported", 0) + 1
    _changes.reported = number
    transaction.on_commit(partial(_publish, number), robust=True)


def _publish(number: int) -> None:
    if number <= getattr(_changes, "published", 0):
        return
    _changes.published = _changes.reported
    catalog_version().bump()
