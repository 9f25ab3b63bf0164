"""A drop-in for Django's pool: options read live, every OPTIONS key honoured, errors as Django's.

Wrappers made here are copies of the test connection under aliases of their
own, the way Django's own backend tests make them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, cast
from unittest import mock

import psycopg
import psycopg_pool
import pytest
from django.db import connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test.utils import CaptureQueriesContext
from psycopg import IsolationLevel

from core.db.backends.postgresql.base import DatabaseWrapper
from core.db.backends.postgresql.errors import DatabaseUnavailable, PoolRejected, PoolTimeout
from devtools.localdb import PostgresCluster

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def copy_of_connection() -> Iterator[Any]:
    """`make(alias, **OPTIONS)`: a copy of the connection with OPTIONS of its own."""
    made: list[DatabaseWrapper] = []

    def make(alias: str, **options: Any) -> DatabaseWrapper:
        wrapper = cast(DatabaseWrapper, connection.copy(alias))
        wrapper.settings_dict = copy.deepcopy(connection.settings_dict)
        wrapper.settings_dict["OPTIONS"].update(options)
        connections[alias] = wrapper  # django.contrib.postgres looks aliases up
        made.append(wrapper)
        return wrapper

    yield make
    for wrapper in made:
        wrapper.close()
        wrapper.close_pool()
        del connections[wrapper.alias]


def test_options_changed_after_construction_take_effect(copy_of_connection: Any) -> None:
    wrapper = copy_of_connection("live")
    assert wrapper.pool_options.max_size != 3  # read once before the change

    wrapper.settings_dict["OPTIONS"]["pool"] = {"max_size": 3, "min_size": 0}

    assert (wrapper.pool is not None, wrapper.pool_options.max_size) == (True, 3)


def test_pool_false_on_a_copy_gives_a_plain_connection(copy_of_connection: Any) -> None:
    wrapper = copy_of_connection("plain")
    assert wrapper.pool_options is not None  # read once before the change
    wrapper.settings_dict["OPTIONS"]["pool"] = False

    wrapper.ensure_connection()

    assert (wrapper.pool, type(wrapper.connection)) == (None, psycopg.Connection)


def test_a_changed_pool_option_replaces_the_aliases_pool(copy_of_connection: Any) -> None:
    wrapper = copy_of_connection("replaced", pool={"max_size": 2})
    first = wrapper.pool

    wrapper.settings_dict["OPTIONS"]["pool"]["max_size"] = 5  # changed in place

    assert (wrapper.pool is not first, first.closed) == (True, True)


def test_a_custom_cursor_factory_is_used_by_pooled_connections(copy_of_connection: Any) -> None:
    class MyCursor(psycopg.ClientCursor[Any]):
        pass

    wrapper = copy_of_connection("cursors", cursor_factory=MyCursor)
    wrapper.ensure_connection()

    assert wrapper.connection.cursor_factory is MyCursor


def test_server_side_binding_is_used_by_pooled_connections(copy_of_connection: Any) -> None:
    wrapper = copy_of_connection("binding", server_side_binding=True)
    wrapper.ensure_connection()

    assert wrapper.connection.cursor_factory.__name__ == "ServerBindingCursor"


def test_the_isolation_level_applies_to_pooled_transactions(copy_of_connection: Any) -> None:
    wrapper = copy_of_connection("serial", isolation_level=IsolationLevel.SERIALIZABLE)

    with transaction.atomic(using="serial"), wrapper.cursor() as cursor:
        cursor.execute("SHOW transaction_isolation")
        level = cursor.fetchone()[0]

    assert level == "serializable"


def test_assume_role_applies_to_pooled_connections(
    copy_of_connection: Any, postgres: PostgresCluster
) -> None:
    with postgres.admin_connect() as admin:
        admin.execute("DROP ROLE IF EXISTS shop_reader")
        admin.execute("CREATE ROLE shop_reader")
        admin.execute(f"GRANT shop_reader TO {connection.settings_dict['USER']}")
    wrapper = copy_of_connection("role", assume_role="shop_reader")

    with wrapper.cursor() as cursor:
        cursor.execute("SELECT current_user")
        user = cursor.fetchone()[0]

    assert user == "shop_reader"


def test_a_time_zone_applies_to_pooled_connections(copy_of_connection: Any, settings: Any) -> None:
    settings.USE_TZ = True
    wrapper = copy_of_connection("tokyo")
    wrapper.settings_dict["TIME_ZONE"] = "Asia/Tokyo"

    with wrapper.cursor() as cursor:
        cursor.execute("SHOW TimeZone")
        zone = cursor.fetchone()[0]

    assert zone == "Asia/Tokyo"


def test_a_checkout_timeout_is_psycopg_pools_pooltimeout(copy_of_connection: Any) -> None:
    wrapper = copy_of_connection("busy", pool={"min_size": 0, "max_size": 1, "timeout": 0.2})
    wrapper.ensure_connection()  # holds the only connection
    other = wrapper.copy()

    with pytest.raises(psycopg_pool.PoolTimeout) as raised:
        other.connect()

    assert (
        isinstance(raised.value, PoolTimeout),
        isinstance(raised.value, DatabaseUnavailable),
    ) == (
        True,
        False,
    )


def test_busy_errors_are_psycopg_pools_and_down_is_not() -> None:
    assert (
        issubclass(PoolRejected, psycopg_pool.TooManyRequests),
        issubclass(DatabaseUnavailable, psycopg_pool.PoolTimeout),
    ) == (True, False)


def test_code_wrapping_ensure_connection_may_query_while_connecting() -> None:
    """What Django's own test does: a configuration query inside ensure_connection()."""
    real = connection.ensure_connection
    connection.close()

    def ensure_and_configure() -> None:
        opening = connection.connection is None
        real()
        if opening:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")

    with (
        mock.patch.object(
            BaseDatabaseWrapper, "ensure_connection", side_effect=ensure_and_configure
        ),
        CaptureQueriesContext(connection) as captured,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 2")

    assert [q["sql"] for q in captured.captured_queries] == ["SELECT 2"]


def test_a_busy_pool_stays_busy_through_djangos_error_wrapper(copy_of_connection: Any) -> None:
    """Django turns psycopg errors into its own; the 503 page needs to tell busy from down."""
    wrapper = copy_of_connection("wrapped", pool={"min_size": 0, "max_size": 1, "timeout": 0.2})
    wrapper.ensure_connection()
    other = wrapper.copy()

    with pytest.raises(PoolTimeout):
        other.cursor()
