"""A full server and a budget that cannot be read, in process, against a private PostgreSQL.

A server that refuses with "too many clients" (SQLSTATE 53300) is full, not
down: the request is busy (a 503 that says "busy", not "down"), the breaker
stays closed, and the pool looks at the budget at once instead of at its next
scheduled look. A budget look that cannot reach the server changes nothing
and is tried again in a second. (A server that is down, and back, is
tests/db/test_breaker.py.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from core.db.backends.postgresql.errors import ConnectionUnavailable, PoolTimeout
from core.http.unavailable import ServiceUnavailableMiddleware
from devtools.localdb import PostgresCluster
from tests.conftest import MakePostgres
from tests.db.conftest import MakePool
from tests.db.test_pool import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


@pytest.fixture
def cluster(make_postgres: MakePostgres) -> Iterator[PostgresCluster]:
    cluster = make_postgres({"max_connections": 8})
    yield cluster
    cluster.start()


def fill_up(cluster: PostgresCluster) -> list[psycopg.Connection]:
    """Other clients take every slot the application's role may use."""
    others: list[psycopg.Connection] = []
    url = cluster.credentials("pool_tests").url
    while True:
        try:
            others.append(psycopg.connect(url, autocommit=True))
        except psycopg.OperationalError:  # a running server on loopback: it is full
            return others


def test_a_full_server_is_busy_not_down_and_the_budget_is_looked_at_at_once(
    cluster: PostgresCluster, make_pool: MakePool
) -> None:
    # Not adaptive: the limit is the ceiling, so a second request opens a second connection.
    pool = make_pool(
        cluster=cluster, min_size=1, max_size=4, threads=4, timeout=10, adaptive=False, headroom=0
    )
    held = pool.getconn()
    schedule = pool.sizing.schedule
    others = fill_up(cluster)
    outcome: list[BaseException] = []

    def checkout() -> None:
        try:
            pool.getconn()  # needs a second connection, which the server refuses
        except BaseException as error:
            outcome.append(error)

    waiter = threading.Thread(target=checkout)
    try:
        waiter.start()
        # The next look was an hour away (budget_interval). Looked at while the request
        # still waits (a timeout would ask for a look too): rescheduled within a second,
        # since a full server cannot be sampled either.
        looked = wait_for(lambda: schedule.next_at - time.monotonic() < 60, timeout=5)
        waiting = waiter.is_alive()
        waiter.join(timeout=30)
        breaker = pool.stats().breaker
    finally:
        for other in others:
            other.close()
        pool.putconn(held)

    [error] = outcome
    assert (type(error), breaker, looked, waiting) == (PoolTimeout, "closed", True, True)


def test_a_full_server_answers_shoppers_with_the_busy_503(
    cluster: PostgresCluster, make_pool: MakePool, rf: RequestFactory
) -> None:
    pool = make_pool(
        cluster=cluster, min_size=1, max_size=4, threads=4, timeout=1, adaptive=False, headroom=0
    )
    held = pool.getconn()
    others = fill_up(cluster)
    try:
        with pytest.raises(ConnectionUnavailable) as raised:
            pool.getconn()
    finally:
        for other in others:
            other.close()
        pool.putconn(held)
    middleware = ServiceUnavailableMiddleware(lambda request: HttpResponse())

    response = middleware.process_exception(rf.get("/widgets/"), raised.value)

    assert response is not None
    assert (response.status_code, response["Retry-After"], b"very busy" in response.content) == (
        503,
        "2",
        True,
    )


def test_a_budget_look_that_cannot_reach_the_server_changes_nothing(
    cluster: PostgresCluster, make_pool: MakePool
) -> None:
    pool = make_pool(cluster=cluster, min_size=1, max_size=4)
    ceiling = pool.stats().max_size
    cluster.stop()

    share = pool.refresh_budget()
    due_in = pool.sizing.schedule.next_at - time.monotonic()

    # Not the next scheduled look (an hour here): another in a second.
    assert (share, pool.stats().max_size, due_in <= 1.0) == (None, ceiling, True)
