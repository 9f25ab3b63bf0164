"""Real pool events, not synthetic signals, move the widgetworld_db_pool_*_total counters.

Each scenario makes a real pool on the suite's PostgreSQL live through one
event (a timeout, a rejection, a shed request, a connection opened, a killed
backend, a database that refuses connections, a leak, a resize) and checks
that the counter the alerts read moved by exactly one for that pool.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import REGISTRY
from psycopg import sql

from core.db.backends.postgresql.errors import (
    DatabaseUnavailable,
    LoadShed,
    PoolRejected,
    PoolTimeout,
)
from core.db.backends.postgresql.pool import AdaptivePool
from core.db.backends.postgresql.priority import Priority
from devtools.localdb import PostgresCluster
from tests.db.conftest import MakePool
from tests.db.test_pool import backend_pid, hold_until, terminate_and_wait, wait_for

Scenario = tuple[AdaptivePool, Callable[[], None]]


def counted(pool: AdaptivePool, metric: str) -> float:
    return REGISTRY.get_sample_value(metric, {"alias": pool.alias}) or 0.0


def a_timeout(make_pool: MakePool, postgres: PostgresCluster) -> Scenario:
    pool = make_pool(min_size=1, max_size=1, timeout=0.2)

    def event() -> None:
        held = pool.getconn()
        with pytest.raises(PoolTimeout):
            pool.getconn()
        pool.putconn(held)

    return pool, event


def a_rejection(make_pool: MakePool, postgres: PostgresCluster) -> Scenario:
    pool = make_pool(min_size=1, max_size=1, timeout=5, max_waiting=1)

    def event() -> None:
        held = pool.getconn()
        waiter = threading.Thread(target=lambda: pool.putconn(pool.getconn()))
        waiter.start()
        assert wait_for(lambda: pool.stats().waiting == 1)
        with pytest.raises(PoolRejected):
            pool.getconn()
        pool.putconn(held)
        waiter.join()

    return pool, event


def a_shed_request(make_pool: MakePool, postgres: PostgresCluster) -> Scenario:
    pool = make_pool(
        min_size=1, max_size=1, timeout=10, adaptive=False, queue_target=0.05, queue_interval=0.1
    )

    def event() -> None:
        held = pool.getconn()
        # A waiter the deadline queue never sheds keeps the queue standing.
        waiter = threading.Thread(
            target=lambda: pool.putconn(pool.getconn(priority=Priority.CONTINUING))
        )
        waiter.start()
        assert wait_for(pool.admission.standing)
        with pytest.raises(LoadShed):
            pool.getconn()
        pool.putconn(held)
        waiter.join()

    return pool, event


def a_connection_opened(make_pool: MakePool, postgres: PostgresCluster) -> Scenario:
    pool = make_pool(min_size=1, max_size=2, threads=2, adaptive=False, headroom=0)

    def event() -> None:
        first = pool.getconn()
        second = pool.getconn()  # the pool holds one: it opens another
        pool.putconn(second)
        pool.putconn(first)

    return pool, event


def a_killed_backend(make_pool: MakePool, postgres: PostgresCluster) -> Scenario:
    pool = make_pool(min_size=1, max_size=1)

    def event() -> None:
        conn = pool.getconn()
        pid = backend_pid(conn)
        pool.putconn(conn)
        terminate_and_wait(postgres, pid)
        replacement = pool.getconn()  # finds it dead and replaces it
        assert backend_pid(replacement) != pid
        pool.putconn(replacement)

    return pool, event


REFUSING = "pool_refusing"


@pytest.fixture
def refusing_database(postgres: PostgresCluster) -> Iterator[None]:
    """A database of its own, so refusing connections to it leaves the suite's alone."""
    postgres.ensure_database(REFUSING)
    yield
    allow_connections(postgres, REFUSING, True)


def allow_connections(postgres: PostgresCluster, database: str, allowed: bool) -> None:
    statement = sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}")
    with postgres.admin_connect() as admin:
        admin.execute(statement.format(sql.Identifier(database), sql.Literal(allowed)))


def a_database_refusing_connections(make_pool: MakePool, postgres: PostgresCluster) -> Scenario:
    pool = make_pool(min_size=1, max_size=1, database=REFUSING)

    def event() -> None:
        conn = pool.getconn()
        pid = backend_pid(conn)
        pool.putconn(conn)
        allow_connections(postgres, REFUSING, False)
        terminate_and_wait(postgres, pid)
        # Its connection is dead and no new one can be opened: the breaker opens.
        with pytest.raises(DatabaseUnavailable):
            pool.getconn()

    return pool, event


def a_leak(make_pool: MakePool, postgres: PostgresCluster) -> Scenario:
    pool = make_pool(leak_seconds=0.2)

    def event() -> None:
        done = threading.Event()
        holder = threading.Thread(target=hold_until, args=(pool, done))
        holder.start()
        assert wait_for(lambda: pool.stats().leaks == 1)
        done.set()
        holder.join()

    return pool, event


def a_resize(make_pool: MakePool, postgres: PostgresCluster) -> Scenario:
    pool = make_pool(min_size=1, max_size=6, threads=6, headroom=0)

    def event() -> None:
        share = pool.refresh_budget()
        assert share is not None
        pool.apply_share(dataclasses.replace(share, share=2, ceiling=2))

    return pool, event


@pytest.mark.parametrize(
    ("scenario", "metric"),
    [
        (a_timeout, "widgetworld_db_pool_timeouts_total"),
        (a_rejection, "widgetworld_db_pool_rejected_total"),
        (a_shed_request, "widgetworld_db_pool_shed_total"),
        (a_connection_opened, "widgetworld_db_pool_connections_opened_total"),
        (a_killed_backend, "widgetworld_db_pool_connections_lost_total"),
        (a_database_refusing_connections, "widgetworld_db_breaker_trips_total"),
        (a_leak, "widgetworld_db_pool_leaks_total"),
        (a_resize, "widgetworld_db_pool_resizes_total"),
    ],
    ids=[
        "timeout",
        "rejection",
        "shed",
        "opened",
        "killed backend",
        "refused connections",
        "leak",
        "resize",
    ],
)
@pytest.mark.usefixtures("refusing_database")
def test_a_real_event_moves_its_counter_once(
    make_pool: MakePool,
    postgres: PostgresCluster,
    scenario: Callable[[MakePool, PostgresCluster], Scenario],
    metric: str,
) -> None:
    pool, event = scenario(make_pool, postgres)
    before = counted(pool, metric)

    event()

    assert counted(pool, metric) - before == 1
