"""The breaker: while the database is down nobody waits for it; it closes when it answers.

Against a private PostgreSQL that is really stopped and started again. The
pools here have a checkout timeout far longer than the test's own: a
checkout that waited for it would fail the test (pytest-timeout), not pass it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection, connections

from core.db.backends.postgresql.base import DatabaseWrapper
from core.db.backends.postgresql.errors import DatabaseUnavailable
from devtools.localdb import PostgresCluster
from tests.conftest import MakePostgres
from tests.db.conftest import MakePool
from tests.db.test_pool import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(40)]  # a private PostgreSQL each
LONG = 120.0  # seconds: a checkout timeout no test here may wait out


@pytest.fixture
def cluster(make_postgres: MakePostgres) -> Iterator[PostgresCluster]:
    cluster = make_postgres()
    yield cluster
    cluster.start()


def test_the_first_checkouts_after_the_database_dies_fail_fast(
    cluster: PostgresCluster, make_pool: MakePool
) -> None:
    pool = make_pool(cluster=cluster, min_size=2, max_size=4, timeout=LONG)
    pool.putconn(pool.getconn())
    cluster.stop()

    outcomes = []
    for _ in range(3):
        with pytest.raises(DatabaseUnavailable) as raised:
            pool.getconn()
        outcomes.append(type(raised.value))

    assert (outcomes, pool.stats().breaker) == ([DatabaseUnavailable] * 3, "open")


def test_the_breaker_closes_as_soon_as_the_database_answers(
    cluster: PostgresCluster, make_pool: MakePool
) -> None:
    pool = make_pool(cluster=cluster, timeout=LONG)
    cluster.stop()
    with pytest.raises(DatabaseUnavailable):
        pool.getconn()

    cluster.start()

    assert wait_for(lambda: pool.stats().breaker == "closed", timeout=10)
    conn = pool.getconn()
    assert conn.execute("SELECT 1").fetchone() == (1,)
    pool.putconn(conn)


@pytest.mark.django_db
def test_the_breaker_is_public_on_the_connection(cluster: PostgresCluster) -> None:
    settings = {
        **connection.settings_dict,
        **cluster.ensure_database("breaker").django(),
        "OPTIONS": {"pool": {"timeout": LONG}},
    }
    wrapper = DatabaseWrapper(settings, alias="breaker")
    connections["breaker"] = wrapper  # django.contrib.postgres looks its alias up
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
        closed_before = wrapper.breaker_open
        cluster.stop()
        with pytest.raises(DatabaseUnavailable), wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
        stats = wrapper.pool_stats()

        assert (closed_before, wrapper.breaker_open, stats and stats.breaker_open) == (
            False,
            True,
            True,
        )
    finally:
        wrapper.close()
        wrapper.close_pool()
        del connections["breaker"]


@pytest.mark.django_db
def test_the_end_of_a_request_after_an_outage_closes_quietly(cluster: PostgresCluster) -> None:
    # Django asks is_usable() in close_old_connections, outside any view: with
    # the breaker open, "no" and a close, never an exception the WSGI server
    # would answer 500 with.
    settings = {
        **connection.settings_dict,
        **cluster.ensure_database("breaker").django(),
        "OPTIONS": {"pool": {"timeout": LONG}},
    }
    wrapper = DatabaseWrapper(settings, alias="breaker")
    connections["breaker"] = wrapper
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
        cluster.stop()
        with pytest.raises(DatabaseUnavailable), wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
        wrapper.errors_occurred = True  # as a query that failed leaves it

        wrapper.close_if_unusable_or_obsolete()

        assert wrapper.connection is None
    finally:
        wrapper.close()
        wrapper.close_pool()
        del connections["breaker"]
