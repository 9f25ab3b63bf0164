"""The cache seam against real Valkey/Redis servers: up, stopped, and hung.

A failing cache must cost a shopper nothing: reads are misses, writes are
no-ops, every failure is counted, and after a few failures in a row the
breaker skips the server until a probe finds it back. Nothing here measures
time: the cost of a call is bounded by the client's timeouts (pinned below)
and by how many calls reach the server at all (the counters and the breaker).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path
from prometheus_client import REGISTRY

from core.cache import BreakerState, CircuitBreaker, FailSafeCache
from core.cache.lastresort import last_resort_backend
from devtools.localcache import CacheServer
from tests.cache.test_breaker import Clock
from tests.conftest import MakeCacheServer

FAILURES = 3


def counted(name: str, alias: str, operation: str) -> float:
    return REGISTRY.get_sample_value(name, {"alias": alias, "operation": operation}) or 0.0


def errors(alias: str, operation: str = "get") -> float:
    return counted("widgetworld_cache_errors_total", alias, operation)


def skipped(alias: str, operation: str = "get") -> float:
    return counted("widgetworld_cache_skipped_total", alias, operation)


def lookups(cache: str, result: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "widgetworld_cache_lookups_total", {"cache": cache, "result": result}
        )
        or 0.0
    )


@pytest.fixture
def private_server(make_cache_server: MakeCacheServer) -> CacheServer:
    return make_cache_server()


@pytest.fixture
def alias(private_server: CacheServer) -> Iterator[str]:
    """A cache alias of its own (its own breaker and error log) on a private server."""
    name = f"private-{uuid.uuid4().hex[:8]}"
    entry = {**settings.CACHES["default"], "LOCATION": private_server.url}
    with override_settings(CACHES={**settings.CACHES, name: entry}):
        yield name


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(alias: str, clock: Clock) -> FailSafeCache:
    return FailSafeCache(alias, breaker=CircuitBreaker(failures=FAILURES, clock=clock))


# -- with the server up ---------------------------------------------------------------


def test_a_value_round_trips_through_the_suite_server(cache_server: CacheServer) -> None:
    FailSafeCache().set("greeting", {"hello": ["world"]}, 30)

    assert FailSafeCache().get("greeting") == {"hello": ["world"]}


def test_the_suite_caches_in_its_own_real_server(cache_server: CacheServer) -> None:
    FailSafeCache().set("where", "here", 30)

    assert redis.Redis.from_url(cache_server.url).exists(caches["default"].make_key("where")) == 1


def test_hits_and_misses_are_counted_by_name(cache_server: CacheServer) -> None:
    cache = FailSafeCache(name="test-lookups")
    cache.set("present", 1, 30)
    before = (lookups("test-lookups", "hit"), lookups("test-lookups", "miss"))

    cache.get("present")
    cache.get_many(["present", "absent", "gone"])

    after = (lookups("test-lookups", "hit"), lookups("test-lookups", "miss"))
    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)


def test_a_stored_none_is_a_hit_not_a_miss(cache_server: CacheServer) -> None:
    cache = FailSafeCache()
    cache.set("nothing", None, 30)

    assert cache.get("nothing", default="missing") is None


def test_add_stores_only_what_is_absent(cache_server: CacheServer) -> None:
    cache = FailSafeCache()

    assert [cache.add("lock", "a", 30), cache.add("lock", "b", 30), cache.get("lock")] == [
        True,
        False,
        "a",
    ]


def test_incr_adds_atomically_and_says_none_for_an_absent_key(alias: str) -> None:
    cache = FailSafeCache(alias)
    cache.set("counter", 41, 30)

    assert (cache.incr("counter"), cache.incr("absent"), errors(alias, "incr")) == (42, None, 0)


def test_the_client_waits_at_most_the_configured_timeouts() -> None:
    backend: Any = caches["default"]
    pool = backend._cache.get_client(write=True).connection_pool
    options = pool.connection_kwargs

    assert (options["socket_connect_timeout"], options["socket_timeout"]) == (
        settings.CACHE_CONNECT_TIMEOUT_MS / 1000,
        settings.CACHE_TIMEOUT_MS / 1000,
    )


def test_the_client_never_retries_on_its_own() -> None:
    backend: Any = caches["default"]
    pool = backend._cache.get_client(write=True).connection_pool

    assert pool.connection_kwargs["retry"].get_retries() == 0


def test_a_last_resort_read_waits_the_alias_s_last_resort_timeout(
    private_server: CacheServer,
) -> None:
    patient = {**settings.CACHES["default"], "LOCATION": private_server.url}
    patient["LAST_RESORT"] = {"timeout": 0.75}
    with override_settings(CACHES={**settings.CACHES, "patient": patient}):
        backend: Any = last_resort_backend("patient")
        options = backend._cache.get_client().connection_pool.connection_kwargs

    assert (options["socket_connect_timeout"], options["socket_timeout"]) == (0.75, 0.75)


# -- last resort: the only answer short of an error page ----------------------------------


def open_breaker(cache: FailSafeCache) -> None:
    for _ in range(cache.breaker.failures):
        cache.breaker.record_failure()


def test_a_last_resort_read_answers_while_the_breaker_skips_the_server(
    cache: FailSafeCache,
) -> None:
    cache.set("last-good", "copy", 30)
    open_breaker(cache)

    assert (
        cache.get("last-good", default="skipped"),
        cache.get("last-good", last_resort=True),
        cache.get_many(["last-good"], last_resort=True),
    ) == ("skipped", "copy", {"last-good": "copy"})


def test_a_last_resort_read_leaves_the_breaker_as_it_found_it(cache: FailSafeCache) -> None:
    """Its longer wait says nothing of the everyday budget: only everyday calls close it."""
    open_breaker(cache)

    cache.get("anything", last_resort=True)

    assert cache.breaker.state is BreakerState.OPEN


def test_a_failed_last_resort_read_is_a_miss_counted_apart(
    cache: FailSafeCache, alias: str, private_server: CacheServer
) -> None:
    private_server.stop()

    missed = cache.get("k", default="miss", last_resort=True)

    counted = (errors(alias, "get_last_resort"), errors(alias, "get"))
    assert (missed, counted, cache.breaker.state) == ("miss", (1, 0), BreakerState.CLOSED)


# -- with the server stopped ------------------------------------------------------------


def test_reads_are_misses_when_the_server_is_stopped(
    cache: FailSafeCache, private_server: CacheServer
) -> None:
    cache.set("kept", "value", 30)
    private_server.stop()

    assert (cache.get("kept", default="miss"), cache.get_many(["kept"])) == ("miss", {})


def test_writes_are_no_ops_when_the_server_is_stopped(
    cache: FailSafeCache, private_server: CacheServer
) -> None:
    private_server.stop()

    cache.set("k", 1, 30)
    cache.set_many({"k": 1})
    cache.delete("k")

    assert (cache.add("k", 1, 30), cache.incr("k")) == (False, None)


def test_each_failure_is_counted_by_operation(
    cache: FailSafeCache, alias: str, private_server: CacheServer
) -> None:
    private_server.stop()

    cache.get("k")
    cache.set("k", 1, 30)

    assert (errors(alias, "get"), errors(alias, "set")) == (1, 1)


def test_after_failures_in_a_row_the_server_is_skipped(
    cache: FailSafeCache, alias: str, private_server: CacheServer
) -> None:
    private_server.stop()

    for _ in range(10):
        cache.get("k")

    assert (errors(alias), skipped(alias), cache.breaker.state) == (
        FAILURES,
        10 - FAILURES,
        BreakerState.OPEN,
    )


def test_a_failure_is_logged_once_per_window_with_its_cause(
    cache: FailSafeCache, private_server: CacheServer, caplog: pytest.LogCaptureFixture
) -> None:
    private_server.stop()

    with caplog.at_level(logging.WARNING, logger="core.cache"):
        for _ in range(FAILURES):
            cache.get("k")

    assert [r.getMessage().split(" (")[1].split(":")[0] for r in caplog.records] == [
        "ConnectionError"
    ]


def test_the_breaker_probes_again_and_closes_when_the_server_is_back(
    cache: FailSafeCache, private_server: CacheServer, clock: Clock
) -> None:
    private_server.stop()
    for _ in range(FAILURES):
        cache.get("k")
    private_server.start()  # on the same port
    still_skipped = cache.get("k", default="skipped")
    clock.now += cache.breaker.retry_after

    cache.set("k", "fresh", 30)  # the probe

    assert (still_skipped, cache.breaker.state, cache.get("k")) == (
        "skipped",
        BreakerState.CLOSED,
        "fresh",
    )


def test_the_shared_breaker_is_built_from_the_alias_settings(alias: str) -> None:
    configured = settings.CACHES[alias]["BREAKER"]

    breaker = FailSafeCache(alias).breaker

    assert (breaker.failures, breaker.retry_after) == (
        configured["failures"],
        configured["retry_after"],
    )


# -- with the server hung (alive, accepting connections, never answering) ----------------


@pytest.fixture
def hung(private_server: CacheServer) -> Iterator[None]:
    with private_server.paused():
        yield


def test_a_hung_server_costs_one_timeout_per_call_until_the_breaker_opens(
    cache: FailSafeCache, alias: str, hung: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="core.cache"):
        for _ in range(10):
            cache.get("k")

    causes = [r.getMessage().split(" (")[1].split(":")[0] for r in caplog.records]
    assert (causes, errors(alias), skipped(alias)) == (["TimeoutError"], FAILURES, 10 - FAILURES)


# -- inside a request ---------------------------------------------------------------------


def remember(request: HttpRequest) -> HttpResponse:
    """Read, and on a miss write, through the seam: what a cached page will do."""
    cache = FailSafeCache(request.GET["alias"])
    value = cache.get("visits")
    if value is None:
        cache.set("visits", 1, 30)
    return HttpResponse("hit" if value else "miss")


urlpatterns = [path("remember/", remember)]


@pytest.mark.urls("tests.cache.test_failsafe")
def test_a_request_answers_200_with_the_cache_server_stopped_and_counts_the_fallback(
    client: Client, alias: str, private_server: CacheServer
) -> None:
    private_server.stop()

    response = client.get("/remember/", {"alias": alias})

    assert (response.status_code, response.content, errors(alias, "get"), errors(alias, "set")) == (
        200,
        b"miss",
        1,
        1,
    )


@pytest.mark.urls("tests.cache.test_failsafe")
def test_a_request_reads_what_an_earlier_one_wrote(client: Client, alias: str) -> None:
    client.get("/remember/", {"alias": alias})

    assert client.get("/remember/", {"alias": alias}).content == b"hit"
