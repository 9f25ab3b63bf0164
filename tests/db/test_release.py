"""Outside a transaction a connection is held only while the database works.

And nothing Django promises changes: transactions, savepoints, on_commit,
select_for_update, server-side cursors, session settings and advisory locks
behave exactly as on Django's own backend.
"""

from __future__ import annotations

import threading
from typing import cast

import pytest
from django.contrib.auth.models import Group
from django.db import OperationalError, transaction
from django.db import connection as default_connection
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from core.db.backends.postgresql.base import DatabaseWrapper
from devtools.localdb import PostgresCluster
from tests.db.factories import GroupFactory

pytestmark = pytest.mark.django_db(transaction=True)

# The suite's settings use WidgetWorld's backend; django.db types it as the base class.
connection = cast(DatabaseWrapper, default_connection)


@pytest.fixture
def idle_connections() -> None:
    """At least three connections in the pool, so that a borrower has a choice."""
    pool = connection.pool
    assert pool is not None
    taken = [pool.getconn() for _ in range(3)]
    for conn in taken:
        pool.putconn(conn)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def setting_on_backend(pid: int, name: str) -> str:
    """Borrow connections until the one serving backend `pid` comes round again."""
    for _ in range(10):
        with connection.pinned(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), current_setting(%s)", [name])
            backend, value = cursor.fetchone()
        connection.close()
        if backend == pid:
            return str(value)
    raise AssertionError(f"backend {pid} never came back")


def in_use() -> int:
    stats = connection.pool_stats()
    assert stats is not None
    return stats.in_use


def test_a_query_outside_a_transaction_gives_the_connection_back() -> None:
    list(Group.objects.all())

    assert in_use() == 0


def test_between_queries_django_still_sees_an_open_connection() -> None:
    """As with Django's own backend: code that checks `connection.connection` keeps working."""
    list(Group.objects.all())

    assert (connection.connection is not None, in_use()) == (True, 0)


def test_the_connection_is_borrowed_again_when_used_directly() -> None:
    list(Group.objects.all())

    pid = connection.connection.info.backend_pid

    assert (pid > 0, in_use()) == (True, 1)


def test_rows_stay_readable_after_the_connection_went_back() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT generate_series(1, 3)")
        released = in_use() == 0

        assert (released, cursor.fetchall()) == (True, [(1,), (2,), (3,)])


def test_a_cursor_used_again_takes_a_connection_again() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.execute("SELECT 2")

        assert cursor.fetchone() == (2,)


def test_a_second_cursor_never_runs_on_a_connection_given_back() -> None:
    first = connection.cursor()
    second = connection.cursor()  # created on the same checked-out connection
    first.execute("SELECT pg_backend_pid()")

    second.execute("SELECT 42")

    assert second.fetchone() == (42,)


def test_a_transaction_keeps_its_connection_to_the_end() -> None:
    with transaction.atomic():
        Group.objects.create(name="a")
        held = connection.connection

        Group.objects.create(name="b")

        assert connection.connection is held


def write_then_fail(*names: str) -> None:
    with transaction.atomic():
        for name in names:
            GroupFactory.create(name=name)
        raise RuntimeError


def test_rollback_undoes_every_write_of_the_transaction() -> None:
    with pytest.raises(RuntimeError):
        write_then_fail("a", "b")

    assert Group.objects.count() == 0


def test_savepoints_roll_back_only_their_part() -> None:
    with transaction.atomic():
        GroupFactory.create(name="kept")
        with pytest.raises(RuntimeError):
            write_then_fail("undone")

    assert list(Group.objects.values_list("name", flat=True)) == ["kept"]


def test_on_commit_runs_after_the_commit() -> None:
    ran: list[bool] = []
    with transaction.atomic():
        GroupFactory.create()
        transaction.on_commit(lambda: ran.append(connection.in_atomic_block))

    assert ran == [False]


def test_select_for_update_locks_within_the_transaction() -> None:
    group = GroupFactory.create()
    with transaction.atomic():
        locked = Group.objects.select_for_update().get(pk=group.pk)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks"
                " WHERE pid = pg_backend_pid() AND mode = 'RowShareLock'"
            )
            [(locks,)] = cursor.fetchall()

    assert (locked.pk, locks >= 1) == (group.pk, True)


def test_iterator_keeps_its_server_side_cursor_whole() -> None:
    GroupFactory.create_batch(250)
    names = []
    for group in Group.objects.order_by("pk").iterator(chunk_size=100):
        # Other queries in between must not cut the server-side cursor.
        Group.objects.filter(pk=group.pk).exists()
        names.append(group.name)

    assert (len(names), in_use()) == (250, 0)


def test_a_session_setting_stays_for_the_borrower() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET application_name = 'changed'")
        cursor.execute("SHOW application_name")

        assert cursor.fetchone() == ("changed",)


@pytest.mark.usefixtures("idle_connections")
def test_session_state_is_reset_before_anyone_else_gets_the_connection() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET search_path = nowhere")
    pid = backend_pid()
    connection.close()  # the end of the request

    assert setting_on_backend(pid, "search_path") == '"$user", public'


@pytest.mark.usefixtures("idle_connections")
def test_connection_settings_survive_the_reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 1")
    pid = backend_pid()
    connection.close()

    assert setting_on_backend(pid, "statement_timeout") == "10s"


def test_an_advisory_lock_stays_on_its_connection_until_unlocked() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(4242)")
        cursor.execute("SELECT pg_advisory_unlock(4242)")

        assert cursor.fetchone() == (True,)


def test_an_advisory_lock_is_released_when_the_connection_goes_back() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(4243)")
    connection.close()

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")

        assert cursor.fetchone() == (0,)


def hold_a_connection_meanwhile(release: threading.Event) -> threading.Thread:
    """Another thread takes the most recently returned connection and keeps it."""
    taken = threading.Event()

    def borrow() -> None:
        with transaction.atomic():
            Group.objects.exists()
            taken.set()
            release.wait(5)
        connection.close()

    thread = threading.Thread(target=borrow)
    thread.start()
    taken.wait(5)
    return thread


@pytest.mark.usefixtures("idle_connections")
def test_pinned_keeps_one_connection_for_the_block() -> None:
    release = threading.Event()
    with connection.pinned():
        before = backend_pid()
        other = hold_a_connection_meanwhile(release)
        after = backend_pid()
    release.set()
    other.join()

    assert before == after


def test_query_counts_are_unchanged(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    GroupFactory.create_batch(3)

    with django_assert_num_queries(2):
        list(Group.objects.all())
        Group.objects.count()


def test_a_page_that_renders_after_its_query_does_not_hold_the_connection(
    client: Client,
) -> None:
    before = connection.pool_stats()
    assert before is not None

    client.post("/_chaos/render?seconds=0.5")

    after = connection.pool_stats()
    assert after is not None
    held = after.hold_seconds_total - before.hold_seconds_total
    # Held for the query only, and already back when the view returned.
    assert (after.in_use, held < 0.25) == (0, True)


def test_a_read_whose_connection_died_under_it_runs_again(postgres: PostgresCluster) -> None:
    with connection.cursor() as cursor:  # checked out now, still alive
        with postgres.admin_connect() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid]
            )
        cursor.execute("SELECT 42")

        assert cursor.fetchone() == (42,)


def test_a_write_whose_connection_died_is_not_repeated(postgres: PostgresCluster) -> None:
    with connection.cursor() as cursor:
        with postgres.admin_connect() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid]
            )

        with pytest.raises(OperationalError):
            cursor.execute("INSERT INTO auth_group (name) VALUES ('once')")
