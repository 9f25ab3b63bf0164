"""The pool answers fast, heals, watches its borrowers and follows its ceiling."""

from __future__ import annotations

import atexit
import dataclasses
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import cast

import psycopg
import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from core.db.backends.postgresql.base import DatabaseWrapper
from core.db.backends.postgresql.errors import PoolRejected, PoolTimeout
from core.db.backends.postgresql.pool import AdaptivePool, PooledConnection
from devtools.localdb import PostgresCluster
from tests.conftest import MakePostgres
from tests.db.conftest import MakePool


def backend_pid(conn: psycopg.Connection) -> int:
    return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def terminate_and_wait(cluster: PostgresCluster, pid: int) -> None:
    """Terminate a backend and wait until it is gone: termination is a signal, not a join."""
    with cluster.admin_connect() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert wait_for(
            lambda: (
                admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]
                ).fetchone()
                == (0,)
            )
        ), f"backend {pid} still there"


def test_a_saturated_pool_times_out_instead_of_hanging(make_pool: MakePool) -> None:
    pool = make_pool(min_size=1, max_size=1, timeout=0.3)
    held = pool.getconn()

    with pytest.raises(PoolTimeout):
        pool.getconn()

    pool.putconn(held)


def test_a_full_queue_turns_requests_away_at_once(make_pool: MakePool) -> None:
    pool = make_pool(min_size=1, max_size=1, timeout=2, max_waiting=1)
    held = pool.getconn()
    waiter = threading.Thread(target=lambda: pool.putconn(pool.getconn()))
    waiter.start()
    assert wait_for(lambda: pool.stats().waiting == 1)

    with pytest.raises(PoolRejected):
        pool.getconn()

    pool.putconn(held)
    waiter.join()


def test_timeouts_and_rejections_are_counted(make_pool: MakePool) -> None:
    pool = make_pool(min_size=1, max_size=1, timeout=0.1, max_waiting=1)
    held = pool.getconn()
    with pytest.raises(PoolTimeout):
        pool.getconn()
    pool.putconn(held)

    stats = pool.stats()

    assert (stats.timeouts, stats.rejections, stats.checkouts) == (1, 0, 1)


def test_the_pool_grows_one_connection_at_a_time(make_pool: MakePool) -> None:
    """psycopg_pool's single-grower guard: returning connections are never starved."""
    slow, release = threading.Event(), threading.Event()
    # New connections take until `release` once `slow` is set: they can be counted.
    pool = make_pool(
        min_size=1, max_size=10, timeout=30, configure=lambda c: slow.is_set() and release.wait(30)
    )
    held = pool.getconn()
    slow.set()
    waiters = [threading.Thread(target=lambda: pool.putconn(pool.getconn())) for _ in range(6)]
    for waiter in waiters:
        waiter.start()
    assert wait_for(lambda: pool.stats().waiting == 6, timeout=10)

    def opening() -> int:
        stats = pool.stats()
        return pool.get_stats()["pool_size"] - stats.idle - stats.in_use

    one_at_a_time = [opening() for _ in range(20)]
    release.set()
    pool.putconn(held)
    for waiter in waiters:
        waiter.join()
    assert max(one_at_a_time) == 1


def test_a_wait_that_a_returning_connection_ends_opens_nothing(make_pool: MakePool) -> None:
    pool = make_pool(min_size=1, max_size=1, timeout=5)
    held = pool.getconn()
    waiter = threading.Thread(target=lambda: pool.putconn(pool.getconn()))
    waiter.start()
    assert wait_for(lambda: pool.stats().waiting == 1)

    pool.putconn(held)
    waiter.join()

    assert (pool.stats().size, pool.stats().checkouts) == (1, 2)


def test_a_terminated_backend_is_replaced_before_anyone_uses_it(
    make_pool: MakePool, postgres: PostgresCluster
) -> None:
    pool = make_pool(min_size=1, max_size=1)
    conn = pool.getconn()
    pid = backend_pid(conn)
    pool.putconn(conn)
    terminate_and_wait(postgres, pid)

    conn = pool.getconn()

    assert (conn.execute("SELECT 1").fetchone(), backend_pid(conn) != pid, pool.stats().lost) == (
        (1,),
        True,
        1,
    )
    pool.putconn(conn)


def test_a_terminated_idle_backend_is_counted_lost_without_any_checkout(
    make_pool: MakePool, postgres: PostgresCluster
) -> None:
    """The monitor's fleet count (every 2 s) runs a query on an idle connection: it finds it."""
    pool = make_pool(min_size=1, max_size=1)
    conn = pool.getconn()
    pid = backend_pid(conn)
    pool.putconn(conn)

    terminate_and_wait(postgres, pid)

    assert wait_for(lambda: pool.stats().lost == 1, timeout=10)


def test_an_expired_connection_is_replaced_at_checkout(make_pool: MakePool) -> None:
    pool = make_pool(min_size=1, max_size=1, max_lifetime=0.2)
    conn = pool.getconn()
    first = backend_pid(conn)
    pool.putconn(conn)
    time.sleep(0.3)

    conn = pool.getconn()

    assert backend_pid(conn) != first
    pool.putconn(conn)


def take_and_forget(pool: AdaptivePool) -> PooledConnection:
    return pool.getconn()


def hold_until(pool: AdaptivePool, done: threading.Event) -> None:
    conn = pool.getconn()
    done.wait(10)
    pool.putconn(conn)


def leaks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "pool_event", None) == "leak"]


def test_a_leak_is_reported_once_with_where_the_holder_is_now(
    make_pool: MakePool, caplog: pytest.LogCaptureFixture
) -> None:
    pool = make_pool(leak_seconds=0.2)
    done = threading.Event()
    holder = threading.Thread(target=hold_until, args=(pool, done))
    with caplog.at_level(logging.WARNING, logger="core.db.pool"):
        holder.start()
        assert wait_for(lambda: pool.stats().leaks == 1)
        # Three more of the monitor's rounds, each later than the last: still one report.
        now = time.monotonic()
        for later in (1, 2, 3):
            pool.borrows.watch(now + later)
        reported = pool.stats().leaks
        done.set()
        holder.join()

    [leak] = leaks(caplog)
    assert (reported, "hold_until" in leak.holding_at) == (1, True)  # type: ignore[attr-defined]


def test_a_leak_is_counted_only_once_its_report_is_out(make_pool: MakePool) -> None:
    """Whoever sees the count go up (a dashboard, a test) can already read the report."""
    pool = make_pool(leak_seconds=0.2)
    counted_when_reported: list[int] = []

    class Witness(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "pool_event", None) == "leak":
                counted_when_reported.append(pool.stats().leaks)

    witness = Witness()
    logging.getLogger("core.db.pool").addHandler(witness)
    try:
        conn = pool.getconn()
        assert wait_for(lambda: pool.stats().leaks == 1)
        pool.putconn(conn)
    finally:
        logging.getLogger("core.db.pool").removeHandler(witness)

    assert counted_when_reported == [0]


def test_after_a_leak_the_next_one_names_where_it_was_taken(
    make_pool: MakePool, caplog: pytest.LogCaptureFixture
) -> None:
    pool = make_pool(leak_seconds=0.2)
    first = pool.getconn()
    assert wait_for(lambda: pool.stats().leaks == 1)
    pool.putconn(first)
    with caplog.at_level(logging.WARNING, logger="core.db.pool"):
        conn = take_and_forget(pool)
        assert wait_for(lambda: pool.stats().leaks == 2)
        pool.putconn(conn)

    assert "take_and_forget" in leaks(caplog)[-1].taken_at  # type: ignore[attr-defined]


def test_a_connection_left_by_a_finished_thread_comes_back(make_pool: MakePool) -> None:
    pool = make_pool(min_size=1, max_size=2)
    thread = threading.Thread(target=take_and_forget, args=(pool,))
    thread.start()
    thread.join()

    assert wait_for(lambda: pool.stats().in_use == 0)


def test_a_lower_ceiling_closes_idle_connections_above_it(make_pool: MakePool) -> None:
    pool = make_pool(min_size=1, max_size=6)
    taken = [pool.getconn() for _ in range(5)]
    for conn in taken:
        pool.putconn(conn)

    share = pool.refresh_budget()
    assert share is not None
    pool.apply_share(dataclasses.replace(share, share=2, ceiling=2))

    assert (pool.stats().size, pool.stats().max_size) == (2, 2)


def test_a_connection_returned_above_the_ceiling_is_closed(make_pool: MakePool) -> None:
    pool = make_pool(min_size=1, max_size=4)
    taken = [pool.getconn() for _ in range(3)]
    share = pool.refresh_budget()
    assert share is not None
    pool.apply_share(dataclasses.replace(share, share=1, ceiling=1))

    for conn in taken:
        pool.putconn(conn)

    assert pool.stats().size == 1


@pytest.mark.slow
def test_the_budget_divides_the_server_among_peers(
    make_pool: MakePool, make_postgres: MakePostgres
) -> None:
    cluster = make_postgres(server_settings={"max_connections": 30})
    first = make_pool(cluster=cluster, fleet="shop", process="1", headroom=2, max_size=50)
    make_pool(cluster=cluster, fleet="shop", process="2", headroom=2, max_size=50)
    with cluster.admin_connect():  # a client that is not ours
        share = first.refresh_budget()

    # 30 - 3 superuser-reserved - 2 headroom = 25 slots; 1 other client; 2 of
    # us; 2 slots kept for newcomers: (24 - 2) // 2.
    assert share is not None
    assert (share.budget, share.available, share.peers, share.share) == (25, 24, 2, 11)


def test_the_ceiling_never_exceeds_the_threads(make_pool: MakePool) -> None:
    pool = make_pool(threads=3, max_size=50)

    share = pool.refresh_budget()

    assert getattr(share, "ceiling", None) == 3


@pytest.mark.slow  # forks a process
def test_a_forked_child_never_uses_the_parents_connections(transactional_db: None) -> None:
    connection = cast(DatabaseWrapper, connections[DEFAULT_DB_ALIAS])

    with connection.pinned(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        parent_pool = id(connection.pool)
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            try:
                with connection.cursor() as child_cursor:
                    child_cursor.execute("SELECT 2")
                    ok = child_cursor.fetchone() == (2,) and id(connection.pool) != parent_pool
                os.write(write, b"1" if ok else b"0")
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(child, 0)
        child_ok = os.read(read, 1) == b"1"
        # The child's exit must not have closed the parent's session under it.
        cursor.execute("SELECT 3")
        parent_ok = cursor.fetchone() == (3,)

    assert (child_ok, parent_ok) == (True, True)


@pytest.mark.slow  # forks a process
def test_a_child_that_exits_normally_leaves_the_parents_connections_working(
    transactional_db: None,
) -> None:
    """A forked child's normal exit runs atexit handlers and finalizers, ours included.

    They must close only what the child opened: a Terminate message sent down a
    socket inherited from the parent would end the parent's session.
    """
    connection = cast(DatabaseWrapper, connections[DEFAULT_DB_ALIAS])
    pool = connection.pool
    assert pool is not None
    pool.putconn(pool.getconn())  # an idle connection in the parent's pool as the child exits
    lost = pool.stats().lost

    with connection.pinned(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            try:
                # What the interpreter does on a normal exit: atexit handlers
                # (registry.close_all among them), then finalizers.
                atexit._run_exitfuncs()
                gc.collect()
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        cursor.execute("SELECT 2")
        held = cursor.fetchone()
    with pool.connection() as conn:
        pooled = conn.execute("SELECT 3").fetchone()

    # A killed idle connection would be replaced at checkout, but counted as lost.
    assert (held, pooled, pool.stats().lost - lost) == ((2,), (3,), 0)


@pytest.mark.slow
def test_a_process_joining_is_noticed_without_waiting_for_the_next_full_look(
    make_pool: MakePool, make_postgres: MakePostgres
) -> None:
    cluster = make_postgres(server_settings={"max_connections": 30})
    first = make_pool(cluster=cluster, fleet="shop", process="1", max_size=50)
    first.putconn(first.getconn())  # its first count of the fleet: alone
    alone = first.stats().max_size
    make_pool(cluster=cluster, fleet="shop", process="2", max_size=50)

    def returned_once_more() -> bool:
        first.putconn(first.getconn())  # a returning connection counts the fleet
        return first.stats().max_size < alone

    # budget_interval is an hour here: only the fleet check can explain a change.
    assert wait_for(returned_once_more, timeout=6)


def test_spare_connections_close_together_once_idle_for_max_idle(make_pool: MakePool) -> None:
    """One monitor round closes every spare: psycopg_pool alone closes one per max_idle.

    max_idle is a minute, so psycopg_pool's own shrinking cannot have run yet;
    the round is asked for as if that minute had passed.
    """
    pool = make_pool(min_size=1, max_size=5, max_idle=60)
    burst = [pool.getconn() for _ in range(4)]
    for conn in burst:
        pool.putconn(conn)
    before = pool.stats().size

    pool.close_spare(time.monotonic() + 61)

    assert (before, pool.stats().size) == (4, 1)


def test_the_connection_returned_last_is_handed_out_first(make_pool: MakePool) -> None:
    """LIFO: the warm connection serves, the idle tail stays idle and is closed as spare."""
    pool = make_pool(min_size=1, max_size=3)
    taken = [pool.getconn() for _ in range(3)]
    pids = [backend_pid(conn) for conn in taken]
    for conn in taken:
        pool.putconn(conn)

    conn = pool.getconn()

    assert backend_pid(conn) == pids[-1]
    pool.putconn(conn)
