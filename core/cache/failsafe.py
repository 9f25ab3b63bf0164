"""The one way WidgetWorld reads and writes its shared cache: a failure is a miss, never an error.

Django's cache backends raise whatever their client raises: with Redis down,
`cache.get()` is a `redis.ConnectionError` and the page a 500. `FailSafeCache`
wraps a configured cache alias so that any error or timeout is a miss (reads)
or a no-op (writes): counted (`widgetworld_cache_errors_total`), logged at most
once per LOG_WINDOW per alias, and fed to a `CircuitBreaker` so that a dead
server is skipped at no cost (`widgetworld_cache_skipped_total`) until a probe
finds it back. Hits and misses are counted per `name`
(`widgetworld_cache_lookups_total`), so several callers can share one alias
and still be told apart on the dashboard.

Configuration rides on the alias's own `CACHES` entry, which Django ignores
past its own keys: `"BREAKER": {"failures": 3, "retry_after": 2.0}`. The
client's timeouts are the backend's `OPTIONS` (`socket_connect_timeout`,
`socket_timeout`): they bound what one failing call can cost, the breaker
bounds how many calls pay it.

A read whose only alternative is an error page is a *last resort*
(`get(..., last_resort=True)`): it goes past the breaker, which exists to
save a render, not to refuse the only answer there is, and waits for the
alias's `"LAST_RESORT": {"timeout": seconds}` (core/cache/lastresort.py).
It neither asks the breaker nor feeds it: an answer in 50 ms says nothing
about the everyday budget, and a caller that needs it pays its own timeout.
Its failures are counted as operation `get_last_resort` / `get_many_last_resort`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.cache.breaker import BreakerState, CircuitBreaker
from core.cache.lastresort import last_resort_backend
from core.metrics import definitions as m

logger = logging.getLogger("core.cache")

# The errors that mean "the server is not there" and count towards opening the
# breaker. Anything else (a value that cannot be pickled, a server that says
# OOM) is still a miss, but the server did answer.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
OPERATIONS = ("get", "get_many", "set", "set_many", "add", "incr", "delete")
LAST_RESORT = "_last_resort"  # the suffix of a last-resort read's operation label
# Seconds between two log lines about one alias's errors; the lines in between are counted.
LOG_WINDOW = 10.0

_FAILED: Any = object()
_MISSING: Any = object()


class FailSafeCache:
    """A Django cache alias whose every failure is a miss or a no-op.

    `name` labels hits and misses (default: the alias). Instances are cheap:
    the breaker belongs to the alias (`breaker_for`) and the backend is
    Django's per-thread one, looked up on each call. Pass `breaker` to use a
    private one (tests drive it with their own clock).
    """

    def __init__(
        self,
        alias: str = DEFAULT_CACHE_ALIAS,
        *,
        name: str | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.alias = alias
        self.name = name or alias
        self.breaker = breaker if breaker is not None else breaker_for(alias)

    @property
    def available(self) -> bool:
        """False while the breaker skips the server: callers may want to skip work that needs it."""
        return self.breaker.state is BreakerState.CLOSED

    # -- reads: a failure is a miss ---------------------------------------------------

    def get(
        self, key: str, default: Any = None, *, failed: Any = _MISSING, last_resort: bool = False
    ) -> Any:
        """The value, or `default` when absent; `failed` (default: `default`) when the cache
        could not answer, for callers that must tell "none yet" from "cannot say".

        `last_resort`: the caller has nothing else to answer with (see the module's docstring).
        """
        value = self._call("get", lambda cache: cache.get(key, _MISSING), last_resort)
        if value is _FAILED:
            return default if failed is _MISSING else failed
        self._count(hits=value is not _MISSING, lookups=1)
        return default if value is _MISSING else value

    def get_many(self, keys: Iterable[str], *, last_resort: bool = False) -> dict[str, Any]:
        wanted = list(keys)
        found = self._call("get_many", lambda cache: cache.get_many(wanted), last_resort)
        if found is _FAILED:
            return {}
        self._count(hits=len(found), lookups=len(wanted))
        return dict(found)

    # -- writes: a failure is a no-op ---------------------------------------------------

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        self._call("set", lambda cache: cache.set(key, value, timeout))

    def set_many(self, values: Mapping[str, Any], timeout: float | None = None) -> None:
        self._call("set_many", lambda cache: cache.set_many(dict(values), timeout))

    def add(self, key: str, value: Any, timeout: float | None = None) -> bool:
        """Store only if absent (Redis SET NX). False when present or when the cache failed:
        a lock taken with it must treat "cache down" as "go ahead yourself" (see `available`)."""
        added = self._call("add", lambda cache: cache.add(key, value, timeout))
        return added is not _FAILED and bool(added)

    def incr(self, key: str, delta: int = 1) -> int | None:
        """Add to an integer atomically (Redis INCRBY); None when the key is absent or the cache
        failed: a counter that must never go back is seeded with `add` by the caller."""

        def increment(cache: BaseCache) -> int | None:
            try:
                return cache.incr(key, delta)
            except ValueError:  # Django's answer for a key that is not there
                return None

        result = self._call("incr", increment)
        return None if result is _FAILED else result

    def delete(self, key: str) -> None:
        self._call("delete", lambda cache: cache.delete(key))

    # -- the seam -----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {"alias": self.alias, "name": self.name, "breaker": self.breaker.stats()}

    def _call(
        self, operation: str, use: Callable[[BaseCache], Any], last_resort: bool = False
    ) -> Any:
        """`use(backend)`, or _FAILED when the breaker skipped it or it raised."""
        if last_resort:
            return self._last_resort(operation + LAST_RESORT, use)
        if not self.breaker.allow():
            m.CACHE_SKIPPED.labels(self.alias, operation).inc()
            return _FAILED
        try:
            result = use(caches[self.alias])
        except UNAVAILABLE as error:
            self.breaker.record_failure()
            self._failed(operation, error)
            return _FAILED
        except Exception as error:
            self.breaker.record_success()
            self._failed(operation, error)
            return _FAILED
        self.breaker.record_success()
        return result

    def _last_resort(self, operation: str, use: Callable[[BaseCache], Any]) -> Any:
        """`use(backend)` past the breaker, with the alias's last-resort timeout; never fed back."""
        try:
            return use(last_resort_backend(self.alias))
        except Exception as error:
            self._failed(operation, error)
            return _FAILED

    def _failed(self, operation: str, error: Exception) -> None:
        m.CACHE_ERRORS.labels(self.alias, operation).inc()
        _error_log(self.alias).record(operation, error)

    def _count(self, *, hits: int, lookups: int) -> None:
        if hits:
            m.CACHE_LOOKUPS.labels(self.name, "hit").inc(hits)
        if lookups > hits:
            m.CACHE_LOOKUPS.labels(self.name, "miss").inc(lookups - hits)


class _ErrorLog:
    """The first error of a window is logged with its cause; the rest are counted into the next."""

    def __init__(self, alias: str, window: float = LOG_WINDOW) -> None:
        self.alias = alias
        self.window = window
        self._lock = threading.Lock()
        self._logged_at = -window
        self._suppressed = 0

    def record(self, operation: str, error: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._logged_at < self.window:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._logged_at = self._suppressed, 0, now
        logger.warning(
            "cache %s: %s failed (%s: %s), served as a miss%s",
            self.alias,
            operation,
            type(error).__name__,
            error,
            f"; {suppressed} more failure(s) since the last report" if suppressed else "",
            extra={"alias": self.alias, "operation": operation, "suppressed": suppressed},
        )


_registry_lock = threading.Lock()
_breakers: dict[str, CircuitBreaker] = {}
_error_logs: dict[str, _ErrorLog] = {}


def breaker_for(alias: str) -> CircuitBreaker:
    """The process's breaker for a cache alias, made on first use from its `BREAKER` settings."""
    breaker = _breakers.get(alias)
    if breaker is None:
        with _registry_lock:
            breaker = _breakers.get(alias)
            if breaker is None:
                options = settings.CACHES.get(alias, {}).get("BREAKER", {})
                breaker = CircuitBreaker(**options, on_change=_reporter(alias))
                _breakers[alias] = breaker
    return breaker


def _error_log(alias: str) -> _ErrorLog:
    log = _error_logs.get(alias)
    if log is None:
        with _registry_lock:
            log = _error_logs.setdefault(alias, _ErrorLog(alias))
    return log


def _reporter(alias: str) -> Callable[[BreakerState, BreakerState], None]:
    """Breaker changes become the gauge and one log line each (at most one per retry_after)."""

    def report(before: BreakerState, after: BreakerState) -> None:
        m.CACHE_BREAKER_OPEN.labels(alias).set(0 if after is BreakerState.CLOSED else 1)
        if after is BreakerState.OPEN and before is BreakerState.CLOSED:
            breaker = _breakers[alias]
            logger.warning(
                "cache %s unavailable: skipping it (pages render uncached), probing every %g s",
                alias,
                breaker.retry_after,
                extra={"alias": alias, "breaker": after.value},
            )
        elif after is BreakerState.CLOSED:
            logger.info(
                "cache %s answers again", alias, extra={"alias": alias, "breaker": "closed"}
            )

    return report


def zero_metrics(aliases: Iterable[str]) -> None:
    """Export every cache counter at 0 from the start, so the first error is an `increase()`."""
    for alias in aliases:
        m.CACHE_BREAKER_OPEN.labels(alias).set(0)
        for operation in OPERATIONS:
            m.CACHE_ERRORS.labels(alias, operation)
            m.CACHE_SKIPPED.labels(alias, operation)
        for operation in ("get", "get_many"):
            m.CACHE_ERRORS.labels(alias, operation + LAST_RESORT)
