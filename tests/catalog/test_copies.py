"""The cache policy itself (catalog/caching/copies.py, version.py) on the suite's real cache server.

Real threads race for one key and the renders are counted; the database's
failures are the pool's own exceptions raised by the render; time is a clock
the test moves, so the bounds are pinned without waiting for them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from django.test import RequestFactory
from prometheus_client import REGISTRY

from catalog.caching.copies import Copies, Fetched, Outcome
from catalog.caching.degraded import (
    DATABASE_UNAVAILABLE,
    POOL_REJECTED,
    POOL_TIMEOUT,
    Stale,
    serve_stale,
)
from catalog.caching.version import CatalogVersion
from core.cache import CircuitBreaker, FailSafeCache
from core.db.backends.postgresql.errors import (
    ConnectionUnavailable,
    DatabaseUnavailable,
    PoolRejected,
    PoolTimeout,
)
from core.status import signals
from tests.cache.test_breaker import Clock

THREADS = 20


class PollingCache(FailSafeCache):
    """The real cache, noting which threads are waiting for another's render."""

    def __init__(self) -> None:
        super().__init__(name="test-copies")
        self.pollers: set[int] = set()
        self.polled = threading.Condition()

    def get_many(self, keys: Iterable[str], *, last_resort: bool = False) -> dict[str, Any]:
        with self.polled:
            self.pollers.add(threading.get_ident())
            self.polled.notify_all()
        return super().get_many(keys, last_resort=last_resort)

    def wait_for_pollers(self, count: int) -> None:
        with self.polled:
            assert self.polled.wait_for(lambda: len(self.pollers) >= count, timeout=30)


class Render:
    """A render that blocks until the test lets it finish, counting how often it ran."""

    def __init__(self, value: str = "page") -> None:
        self.value = value
        self.count = 0
        self.started = threading.Event()
        self.finish = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            self.count += 1
        self.started.set()
        assert self.finish.wait(30)
        return self.value


@pytest.fixture
def cache() -> PollingCache:
    return PollingCache()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def version(cache: PollingCache, clock: Clock) -> CatalogVersion:
    return CatalogVersion(cache, ttl=1.0, clock=clock)


def make_copies(
    cache: FailSafeCache,
    version: CatalogVersion,
    *,
    wait: float = 30.0,
    clock: Callable[[], float] = time.time,
    known_down: Callable[[], bool] = lambda: False,
) -> Copies:
    return Copies(
        cache,
        version,
        fresh_for=300,
        keep_for=3600,
        wait=wait,
        clock=clock,
        known_down=known_down,
    )


def outcomes(fetched: Iterable[Future[Fetched[str]]]) -> Counter[str]:
    return Counter(future.result(timeout=30).outcome.value for future in fetched)


def raising(error: Exception) -> Callable[[], str]:
    def render() -> str:
        raise error

    return render


# -- one render per key ---------------------------------------------------------------------


def test_a_cold_key_asked_for_by_many_threads_at_once_is_rendered_once(
    cache: PollingCache, version: CatalogVersion
) -> None:
    copies, render = make_copies(cache, version), Render()
    with ThreadPoolExecutor(THREADS) as pool:
        fetched = [pool.submit(copies.fetch, "cold", render, label="test") for _ in range(THREADS)]
        assert render.started.wait(30)
        cache.wait_for_pollers(THREADS - 1)
        render.finish.set()

    assert (render.count, outcomes(fetched)) == (1, {"miss": 1, "waited": THREADS - 1})


def test_while_a_stale_key_is_rendered_everyone_else_gets_the_previous_copy_at_once(
    cache: PollingCache, version: CatalogVersion
) -> None:
    copies = make_copies(cache, version)
    copies.fetch("hot", lambda: "old page", label="test")
    version.bump()
    render = Render("new page")
    with ThreadPoolExecutor(THREADS) as pool:
        renderer = pool.submit(copies.fetch, "hot", render, label="test")
        assert render.started.wait(30)
        others = [pool.submit(copies.fetch, "hot", render, label="test") for _ in range(5)]
        served = [future.result(timeout=30) for future in others]
        render.finish.set()

    assert (
        render.count,
        {(f.outcome.value, f.value) for f in served},
        renderer.result().value,
    ) == (1, {("previous", "old page")}, "new page")


def test_a_waiter_renders_itself_once_the_bounded_wait_is_up(
    cache: PollingCache, version: CatalogVersion
) -> None:
    copies, render = make_copies(cache, version, wait=0.05), Render()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(copies.fetch, "slow", render, label="test")
        assert render.started.wait(30)
        second = copies.fetch("slow", lambda: "rendered here", label="test")
        render.finish.set()
        first.result(timeout=30)

    assert (second.outcome, second.value) == (Outcome.MISS, "rendered here")


def test_a_render_that_stores_nothing_ends_the_wait_at_once(
    cache: PollingCache, version: CatalogVersion
) -> None:
    """A 404 is not kept: the others must not sit out the whole wait for it."""
    copies, render = make_copies(cache, version, wait=30.0), Render("not found")
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(copies.fetch, "missing", render, keep=lambda v: False, label="test")
        assert render.started.wait(30)
        second = pool.submit(copies.fetch, "missing", lambda: "mine", label="test")
        cache.wait_for_pollers(1)
        render.finish.set()

        assert (first.result(timeout=30).value, second.result(timeout=5).value) == (
            "not found",
            "mine",
        )


# -- freshness ---------------------------------------------------------------------------


def test_a_copy_is_current_until_the_catalog_changes(
    cache: PollingCache, version: CatalogVersion
) -> None:
    copies = make_copies(cache, version)
    copies.fetch("page", lambda: "v1", label="test")
    unchanged = copies.fetch("page", lambda: "not rendered", label="test")
    version.bump()
    changed = copies.fetch("page", lambda: "v2", label="test")

    assert [(f.outcome, f.value) for f in (unchanged, changed)] == [
        (Outcome.HIT, "v1"),
        (Outcome.MISS, "v2"),
    ]


def test_a_copy_older_than_the_fresh_bound_is_rendered_again(
    cache: PollingCache, version: CatalogVersion, clock: Clock
) -> None:
    """The bound for writes no signal reports (raw SQL, QuerySet.update())."""
    copies = make_copies(cache, version, clock=clock)
    copies.fetch("page", lambda: "old", label="test")
    clock.now += copies.fresh_for

    assert copies.fetch("page", lambda: "new", label="test").value == "new"


def test_another_process_sees_a_change_within_the_version_ttl(
    cache: PollingCache, clock: Clock
) -> None:
    """The freshness bound across processes: CATALOG_VERSION_TTL after the commit."""
    here = CatalogVersion(cache, ttl=1.0, clock=clock)
    there = CatalogVersion(cache, ttl=1.0, clock=clock)
    before = there.current()
    here.bump()
    within_ttl = there.current()
    clock.now += 1.0

    assert (within_ttl, there.current()) == (before, here.current())


def test_the_process_that_writes_sees_its_change_at_once(
    cache: PollingCache, version: CatalogVersion
) -> None:
    before = version.current()
    version.bump()

    assert version.current() == (before or 0) + 1


def test_a_version_lost_with_the_cache_starts_again_above_the_old_one(
    cache: PollingCache, version: CatalogVersion
) -> None:
    version.bump()
    before = version.current()
    cache.delete("catalog:version")
    version.forget()

    assert (version.current() or 0) > (before or 0)


# -- the last good copy ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (DatabaseUnavailable("down"), DATABASE_UNAVAILABLE),
        (PoolTimeout("busy"), POOL_TIMEOUT),
        (PoolRejected("full"), POOL_REJECTED),
    ],
)
def test_when_the_database_fails_the_last_good_copy_answers_with_why(
    cache: PollingCache, version: CatalogVersion, error: ConnectionUnavailable, reason: str
) -> None:
    copies = make_copies(cache, version)
    copies.fetch("page", lambda: "last good", label="test")
    version.bump()

    fetched = copies.fetch("page", raising(error), label="test")

    assert (fetched.value, fetched.outcome, fetched.stale and fetched.stale.reason) == (
        "last good",
        Outcome.STALE,
        reason,
    )


def test_with_no_copy_at_all_the_failure_is_the_request_s(
    cache: PollingCache, version: CatalogVersion
) -> None:
    copies = make_copies(cache, version)

    with pytest.raises(DatabaseUnavailable):
        copies.fetch("never", raising(DatabaseUnavailable("down")), label="test")


def test_while_the_database_is_known_down_even_a_current_copy_is_marked_stale(
    cache: PollingCache, version: CatalogVersion
) -> None:
    """An outage must never hide behind a high hit rate."""
    down = False
    copies = make_copies(cache, version, known_down=lambda: down)
    copies.fetch("page", lambda: "page", label="test")
    down = True

    fetched = copies.fetch("page", raising(AssertionError("must not render")), label="test")

    assert (fetched.outcome, fetched.stale and fetched.stale.reason) == (
        Outcome.STALE,
        DATABASE_UNAVAILABLE,
    )


# -- the cache's breaker open (a loaded cache server that missed its few milliseconds) --------


@pytest.fixture
def skipping() -> FailSafeCache:
    """The suite's cache server behind a breaker of its own, opened through its public API."""
    cache = FailSafeCache(name="test-copies", breaker=CircuitBreaker(failures=1, retry_after=3600))
    cache.breaker.record_failure()
    return cache


def stored(cache: PollingCache, version: CatalogVersion, key: str) -> None:
    """A copy rendered while the cache and the database both answered."""
    make_copies(cache, version).fetch(key, lambda: "last good", label="test")


def test_with_the_database_known_down_the_last_good_copy_answers_past_the_cache_s_breaker(
    cache: PollingCache, version: CatalogVersion, skipping: FailSafeCache
) -> None:
    """A 503 is the only alternative: the cache's breaker must not stand in the way."""
    stored(cache, version, "page")
    copies = make_copies(skipping, version, known_down=lambda: True)

    fetched = copies.fetch("page", raising(DatabaseUnavailable("down")), label="test")

    assert (fetched.value, fetched.stale and fetched.stale.reason) == (
        "last good",
        DATABASE_UNAVAILABLE,
    )


def test_a_render_that_finds_the_database_gone_answers_past_the_cache_s_breaker(
    cache: PollingCache, version: CatalogVersion, skipping: FailSafeCache
) -> None:
    """The first request of an outage: the pool's breaker does not know yet."""
    stored(cache, version, "page")
    copies = make_copies(skipping, version)

    fetched = copies.fetch("page", raising(PoolTimeout("busy")), label="test")

    assert (fetched.value, fetched.stale and fetched.stale.reason) == ("last good", POOL_TIMEOUT)


def test_with_the_database_up_a_skipped_cache_costs_a_render_not_an_old_copy(
    cache: PollingCache, version: CatalogVersion, skipping: FailSafeCache
) -> None:
    """A slow cache is no reason to show yesterday's prices while the database answers."""
    stored(cache, version, "page")
    copies = make_copies(skipping, version)

    fetched = copies.fetch("page", lambda: "today", label="test")

    assert (fetched.value, fetched.stale) == ("today", None)


def test_a_failed_render_lets_go_of_the_key(cache: PollingCache, version: CatalogVersion) -> None:
    copies = make_copies(cache, version)
    copies.fetch("page", lambda: "old", label="test")
    version.bump()
    copies.fetch("page", raising(PoolTimeout("busy")), label="test")

    assert copies.fetch("page", lambda: "new", label="test").outcome == Outcome.MISS


def test_a_stale_answer_is_counted_for_prometheus_and_the_status_page(rf: RequestFactory) -> None:
    signals.take()
    before = REGISTRY.get_sample_value(
        "widgetworld_stale_responses_total", {"reason": DATABASE_UNAVAILABLE}
    )
    request = rf.get("/widgets/")
    serve_stale(request, Stale.at(DATABASE_UNAVAILABLE, time.time()))
    serve_stale(request, Stale.at(DATABASE_UNAVAILABLE, time.time()))  # one answer, once

    after = REGISTRY.get_sample_value(
        "widgetworld_stale_responses_total", {"reason": DATABASE_UNAVAILABLE}
    )
    assert ((after or 0) - (before or 0), signals.take()) == (1, {("storefront", "stale"): 1})
