"""The live status document: in the shared cache, a copy in every process, PostgreSQL behind.

One small document holds everything the page and the banner show: each
component's automatic track, the firing alerts, recent incidents and the
maintenance windows. It lives in the shared cache (`STATUS_CACHE_ALIAS`) so
every worker on every host reads and writes the same state, and so it
survives a database outage. Each process keeps the last copy it read for
`STATUS_LOCAL_TTL` seconds: the banner costs no query and, most of the time,
no cache round trip either, and it still shows when the cache is down too.

Written by hand around Django's cache API because the state is a single
read-modify-write document: `mutate` serialises writers with a short lock in
the cache (`add` with a timeout) and never blocks a request for more than
`LOCK_WAIT`. It shares the cache seam's breaker (core/cache) but not its
"a failure is a miss": for a document written back whole, a failed read must
be told apart from an empty cache (else an older copy would be published
over a newer one), and the fleet's counters need `incr`. Cache errors never
reach a shopper as a 500.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

from core.cache import breaker_for
from core.cache.failsafe import UNAVAILABLE

logger = logging.getLogger(__name__)

KEY = "status:document"
LOCK_KEY = "status:document:lock"
LOCK_TTL = 5  # seconds: a writer that dies holding the lock releases it this late
LOCK_WAIT = 0.5  # seconds a writer waits for another before going ahead anyway
SCHEMA = 1

Document = dict[str, Any]


def empty_document() -> Document:
    return {
        "schema": SCHEMA,
        "version": 0,
        "updated_at": 0.0,
        "tracks": {},  # component id -> rules.Track as a dict
        "components": {},  # component id -> {"status", "at"}: when it last changed
        "alerts": {},  # fingerprint -> firing alert (alerts.py)
        "incidents": [],  # newest first (incidents.py)
        "maintenances": [],
        "pending_writeback": [],  # public ids of incidents PostgreSQL has not seen yet
        "synced_at": 0.0,  # last time the document was reconciled with PostgreSQL
    }


def cache() -> BaseCache:
    return caches[settings.STATUS_CACHE_ALIAS]


CACHE_FAILED: Any = object()  # what `safely` answers by default when the cache failed


def safely(what: str, action: Callable[[], Any], default: Any = CACHE_FAILED) -> Any:
    """A cache call that may fail: log it, and answer `default` (CACHE_FAILED unless told).

    It shares the cache seam's breaker (core/cache): while the server is known
    to be down, the call is skipped at no cost, as every other cache user's is.
    """
    breaker = breaker_for(settings.STATUS_CACHE_ALIAS)
    if not breaker.allow():
        return default
    try:
        result = action()
    except UNAVAILABLE as error:
        breaker.record_failure()
        _failed(what, error)
        return default
    except Exception as error:
        breaker.record_success()
        _failed(what, error)
        return default
    breaker.record_success()
    return result


def _failed(what: str, error: Exception) -> None:
    logger.warning("status cache %s failed: %s", what, error, extra={"error": type(error).__name__})


@dataclass(frozen=True)
class Published:
    document: Document
    shared: bool  # False: only this process has the change (the cache failed)


class Store:
    """This process's view of the shared document."""

    def __init__(self) -> None:
        self._local: Document | None = None
        self._fetched_at = 0.0
        self._mutex = threading.Lock()
        self.owner = f"{socket.gethostname()}/{os.getpid()}"

    def read(self, max_age: float | None = None) -> Document:
        """The document as of at most `max_age` seconds ago; never a query, never raises."""
        age = settings.STATUS_LOCAL_TTL if max_age is None else max_age
        now = time.monotonic()
        local = self._local
        if local is not None and now - self._fetched_at < age:
            return local
        shared = safely("read", lambda: cache().get(KEY), None)
        if _valid(shared):
            self._remember(shared)
            return shared
        if local is not None:
            # Cache down or emptied: keep showing what we knew, and try again later.
            self._fetched_at = now
            return local
        return empty_document()

    def shared(self) -> Document | None:
        """The cache's copy, or None when it has none (or cannot be reached)."""
        shared = safely("read", lambda: cache().get(KEY), None)
        return shared if _valid(shared) else None

    def mutate(
        self, change: Callable[[Document], None], *, load: Callable[[], Document]
    ) -> Published:
        """Apply `change` to the newest document and publish it.

        `load` builds a document when neither the cache nor this process has
        one (a new cache server, say): the caller rebuilds it from PostgreSQL.
        When the cache cannot be read, the change is made to this process's
        copy only and not published: writing it would overwrite a newer
        shared copy with an older one. `Published.shared` says which, so a
        caller that can be asked again (Alertmanager) is told to retry.
        """
        with self._mutex, self._exclusive():
            found = safely("read", lambda: cache().get(KEY))
            reachable = found is not CACHE_FAILED
            if _valid(found):
                document = found
            elif self._local is not None:
                document = copy.deepcopy(self._local)
            else:
                document = load()
            change(document)
            document["version"] = int(document.get("version", 0)) + 1
            document["updated_at"] = time.time()

            def write() -> None:
                cache().set(KEY, document, timeout=None)

            written = reachable and safely("write", write) is not CACHE_FAILED
            self._remember(document)
            return Published(document, shared=written)

    def forget(self) -> None:
        """Drop this process's copy (tests; a new deploy's first read)."""
        self._local = None
        self._fetched_at = 0.0

    def _remember(self, document: Document) -> None:
        self._local = document
        self._fetched_at = time.monotonic()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            # None: the cache failed, and there is no one to wait for.
            held = safely("lock", lambda: cache().add(LOCK_KEY, self.owner, LOCK_TTL), None)
            if held is not False or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        try:
            yield
        finally:
            if held is True:
                safely("unlock", lambda: cache().delete(LOCK_KEY))


def _valid(document: object) -> bool:
    return isinstance(document, dict) and document.get("schema") == SCHEMA


store = Store()
