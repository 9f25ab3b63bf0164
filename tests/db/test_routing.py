"""The router against a real primary and its real streaming replica, in this process.

The pair is two extra aliases on WidgetWorld's backend (`pair_primary`,
`pair_replica`) with the router switched on for the test; where a query went
is recorded on each alias's connection, and the servers' own
`pg_stat_activity` says what each one is doing.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import environ
import psycopg
import pytest
from django.conf import settings
from django.db import DatabaseError, connections, router, transaction
from django.db.models import F
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from catalog.caching.copies import catalog_copies
from catalog.caching.version import catalog_version
from catalog.models import Widget
from core.db.backends.postgresql import registry
from core.db.backends.postgresql.budget import application_name
from core.db.backends.postgresql.replication import WalWatch, parse_lsn
from core.db.routing.config import routing_config
from core.db.routing.rotation import rotation
from core.db.routing.scope import replica_reads
from core.db.routing.standing import Reason
from core.db.routing.writes import watch_writes, written_lsn
from core.http.routing import ReplicaRoutingMiddleware
from devtools.databases import ReplicatedDatabase
from devtools.localdb import PostgresCluster
from tests.conftest import MakeReplicated

pytestmark = pytest.mark.slow

PRIMARY, REPLICA = "pair_primary", "pair_replica"
ROUTER = "core.db.routing.router.ReplicaRouter"


def alias_settings(url: str) -> dict[str, Any]:
    return {
        **environ.Env.db_url_config(url),
        "ENGINE": "core.db.backends.postgresql",
        "OPTIONS": {"pool": {"track_wal": True, "budget_interval": 3600}},
    }


ROUTING = {"primary": PRIMARY, "replicas": [REPLICA], "max_lag": 1.0, "read_your_writes": 5.0}


def routing_config_dict() -> dict[str, Any]:
    return dict(ROUTING)


@pytest.fixture(scope="module")
def pair(make_replicated_postgres: MakeReplicated) -> ReplicatedDatabase:
    return make_replicated_postgres()


@pytest.fixture
def routed(pair: ReplicatedDatabase, django_db_blocker: Any) -> Iterator[ReplicatedDatabase]:
    """The pair behind the router, a replica over 1 s behind taken out; healthy again afterwards."""
    aliases = {PRIMARY: alias_settings(pair.url), REPLICA: alias_settings(pair.replica_url)}
    settings.DATABASES.update(aliases)
    connections.configure_settings(settings.DATABASES)
    try:
        with (
            django_db_blocker.unblock(),
            override_settings(DATABASE_ROUTERS=[ROUTER], DATABASE_ROUTING=ROUTING),
        ):
            yield pair
    finally:
        for alias in aliases:
            connections[alias].close()
            registry.close(alias)
            del connections[alias]
            del settings.DATABASES[alias]
        pair.replica.start()
        pair.replica.resume_replay()
        pair.replica.wait_caught_up()


def served_by(read: Callable[[], object]) -> str:
    """Which alias's connection ran the read's queries: 'primary', 'replica', or both.

    The router asking a replica how far it has replayed is not one of them.
    """
    used: set[str] = set()

    def recorder(alias: str) -> Callable[..., Any]:
        def record(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
            if "pg_last_wal_replay_lsn" not in sql:
                used.add(alias)
            return execute(sql, *args)

        return record

    with (
        connections[PRIMARY].execute_wrapper(recorder("primary")),
        connections[REPLICA].execute_wrapper(recorder("replica")),
    ):
        read()
    return "+".join(sorted(used))


def primary_watch() -> WalWatch:
    watch = connections[PRIMARY].wal_watch()  # type: ignore[attr-defined]
    assert isinstance(watch, WalWatch)
    return watch


def a_read() -> None:
    with replica_reads():
        list(Widget.objects.order_by("id")[:5])


def reason() -> Reason:
    (standing,) = rotation.standings(routing_config())
    return standing.reason


def until(what: str, condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def our_sessions_in_a_transaction(cluster: PostgresCluster) -> list[str]:
    """What this process's pooled connections on `cluster` are doing inside a transaction."""
    with cluster.admin_connect("widgetworld") as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = %s"
            " AND xact_start IS NOT NULL",
            [application_name("widgetworld")],
        ).fetchall()
    return [row[0] for row in rows]


def test_the_replica_is_a_streaming_standby_of_the_primary(pair: ReplicatedDatabase) -> None:
    with pair.primary.admin_connect() as conn:
        senders = conn.execute("SELECT state FROM pg_stat_replication").fetchall()
    with pair.replica.admin_connect("widgetworld") as conn:
        standby = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("UPDATE catalog_widget SET stock = stock")

    assert (senders, standby) == ([("streaming",)], (True,))


def test_a_request_keeps_its_replica_for_all_its_reads(routed: ReplicatedDatabase) -> None:
    def read() -> None:
        list(Widget.objects.order_by("id")[:5])

    with replica_reads():
        first = served_by(read)
        # The replica falls behind in the middle of the request.
        routed.replica.pause_replay()
        with routed.primary.admin_connect("widgetworld") as conn:
            conn.execute("UPDATE catalog_widget SET description = description || '.'")
        until("the replica to count as lagging", lambda: reason() is Reason.LAGGING)
        later = served_by(read)
    next_request = served_by(a_read)

    # One page never mixes two servers; the next request goes where it is fresh.
    assert (first, later, next_request) == ("replica", "replica", "primary")


def test_reads_outside_a_request_scope_stay_on_the_primary(routed: ReplicatedDatabase) -> None:
    # Management commands, background threads: no scope, no replica.
    assert served_by(lambda: list(Widget.objects.order_by("id")[:5])) == "primary"


def test_transactions_and_select_for_update_never_touch_a_replica(
    routed: ReplicatedDatabase,
) -> None:
    seen: dict[str, list[str]] = {}
    pk = Widget.objects.using(PRIMARY).order_by("id").values_list("pk", flat=True)[0]

    def checkout_like() -> None:
        with transaction.atomic(using=PRIMARY):
            Widget.objects.select_for_update().get(pk=pk)
            Widget.objects.filter(pk=pk).update(stock=F("stock"))
            Widget.objects.get(pk=pk)  # a plain read inside the transaction
            seen["primary"] = our_sessions_in_a_transaction(routed.primary)
            seen["replica"] = our_sessions_in_a_transaction(routed.replica)

    with replica_reads():
        Widget.objects.get(pk=pk)  # the request chose the replica
        served = served_by(checkout_like)

    assert (served, len(seen["primary"]), seen["replica"]) == ("primary", 1, []), seen


def test_a_replica_over_the_lag_threshold_gets_no_reads_until_it_catches_up(
    routed: ReplicatedDatabase,
) -> None:
    assert served_by(a_read) == "replica"
    routed.replica.pause_replay()
    with routed.primary.admin_connect("widgetworld") as conn:
        conn.execute("UPDATE catalog_widget SET description = description || '.'")
    until("the replica to count as lagging", lambda: reason() is Reason.LAGGING)
    while_lagging = served_by(a_read)

    routed.replica.resume_replay()
    until("the replica to catch up", lambda: reason() is Reason.OK)

    assert (while_lagging, served_by(a_read)) == ("primary", "replica")


def test_an_unreachable_replica_is_skipped_and_returns_when_it_answers(
    routed: ReplicatedDatabase,
) -> None:
    assert served_by(a_read) == "replica"
    routed.replica.stop()
    # Its pool finds the connection dead, fails to reconnect and opens its breaker.
    until("the replica's breaker to open", lambda: reason() is Reason.UNREACHABLE)
    while_down = served_by(a_read)

    routed.replica.start()
    until("the replica to be back in rotation", lambda: reason() is Reason.OK)

    assert (while_down, served_by(a_read)) == ("primary", "replica")


def test_catalog_reads_go_on_from_the_replica_while_the_primary_is_down(
    routed: ReplicatedDatabase,
) -> None:
    assert served_by(a_read) == "replica"
    routed.primary.stop()
    try:
        # Once the primary's position is stale, the replica's own reading stands alone.
        until(
            "the primary's WAL position to go stale",
            lambda: primary_watch().age() > routing_config().stale_after,
        )
        while_down = served_by(a_read)
    finally:
        routed.primary.start()

    assert (while_down, reason()) == ("replica", Reason.OK)


def test_after_a_write_the_request_reads_from_the_primary(routed: ReplicatedDatabase) -> None:
    with replica_reads(), connections[PRIMARY].execute_wrapper(watch_writes):
        pk = Widget.objects.order_by("id").values_list("pk", flat=True)[0]  # the replica
        Widget.objects.filter(pk=pk).update(stock=F("stock"))
        after_the_write = served_by(lambda: list(Widget.objects.order_by("id")[:5]))

    assert after_the_write == "primary"


def test_the_writers_token_keeps_them_off_a_replica_until_it_has_replayed_the_write(
    routed: ReplicatedDatabase,
) -> None:
    routed.replica.pause_replay()
    with replica_reads(), connections[PRIMARY].execute_wrapper(watch_writes):
        Widget.objects.filter(pk=Widget.objects.using(PRIMARY).order_by("id")[0].pk).update(
            stock=F("stock")
        )
        token = written_lsn(PRIMARY)
    assert token is not None

    def the_writers_next_page() -> None:
        with replica_reads(min_lsn=token):
            list(Widget.objects.order_by("id")[:5])

    # The replica stays in rotation (a 60 s lag threshold): only the token moves the writer.
    with override_settings(
        DATABASE_ROUTING={**routing_config_dict(), "max_lag": 60.0, "read_your_writes": 120.0}
    ):
        before_replay = served_by(the_writers_next_page)
        routed.replica.resume_replay()
        until(
            "the replica to replay the write",
            lambda: rotation.standings(routing_config())[0].has_replayed(token),
        )
        after_replay = served_by(the_writers_next_page)

    assert (before_replay, after_replay) == ("primary", "replica")


def test_a_page_cache_miss_after_a_catalog_write_renders_from_what_has_replayed_it(
    routed: ReplicatedDatabase,
) -> None:
    """A copy is stored under the version the write moved on to: it must show the write."""
    copies = catalog_copies("pages")
    pk = Widget.objects.using(PRIMARY).order_by("id").values_list("pk", flat=True)[0]
    routed.replica.pause_replay()
    Widget.objects.filter(pk=pk).update(stock=F("stock") + 1)
    catalog_version().bump()
    written = Widget.objects.using(PRIMARY).get(pk=pk).stock

    def a_page(key: str) -> Callable[[], None]:
        def request() -> None:
            with replica_reads():
                copies.fetch(key, lambda: Widget.objects.get(pk=pk).stock, label="test")

        return request

    # The replica stays in rotation (a 60 s lag threshold): only the version's position moves it.
    with override_settings(
        DATABASE_ROUTING={**routing_config_dict(), "max_lag": 60.0, "read_your_writes": 120.0}
    ):
        before_replay = served_by(a_page("page:test:one"))
        hit = served_by(a_page("page:test:one"))
        stored = copies.cache.get("page:test:one").value
        routed.replica.resume_replay()
        until(
            "the replica to replay the write",
            lambda: (
                (position := catalog_version().position(catalog_version().current() or 0))
                is not None
                and rotation.standings(routing_config())[0].has_replayed(position)
            ),
        )
        after_replay = served_by(a_page("page:test:two"))

    assert (before_replay, stored, hit, after_replay) == ("primary", written, "", "replica")


def test_a_replica_whose_last_reading_is_behind_the_token_is_asked_how_far_it_has_replayed(
    routed: ReplicatedDatabase,
) -> None:
    """Its pool reads its position every 0.5 s: a write that recent has usually been replayed."""
    with routed.replica.admin_connect("widgetworld") as conn:
        row = conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()
    assert row is not None
    replayed = parse_lsn(row[0])
    watch = connections[REPLICA].wal_watch()  # type: ignore[attr-defined]

    def a_read_after_the_write() -> None:
        # The pool's reading, taken just before the replica replayed the token.
        reading = watch.latest
        assert reading is not None
        watch.record(dataclasses.replace(reading, lsn=replayed - 1, sampled_at=time.monotonic()))
        with replica_reads(min_lsn=replayed):
            list(Widget.objects.order_by("id")[:5])

    with override_settings(
        DATABASE_ROUTING={**routing_config_dict(), "max_lag": 60.0, "read_your_writes": 120.0}
    ):
        assert served_by(a_read_after_the_write) == "replica"


def cut(alias: str) -> None:
    """The server behind `alias`'s connection gone without a word, as in a crash or a network cut.

    No farewell (SQLSTATE) reaches the client, unlike a shutdown's: the
    connection's socket is shut down under it.
    """
    fd = connections[alias].connection.pgconn.socket
    with socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


def read_in_a_transaction_cut_off_halfway(alias: str) -> None:
    """As the search's fuzzy fallback reads: in a transaction on its replica (catalog/selectors)."""
    with transaction.atomic(using=alias, savepoint=False):
        list(Widget.objects.order_by("id")[:5])
        cut(alias)
        list(Widget.objects.order_by("id")[5:10])


def test_a_page_whose_replica_dies_inside_a_transaction_runs_again_on_the_primary(
    routed: ReplicatedDatabase, rf: RequestFactory
) -> None:
    rerun = HttpResponse("served by the primary")
    middleware = ReplicaRoutingMiddleware(lambda request: rerun)
    with replica_reads() as route:
        alias = router.db_for_read(Widget)
        # Django drops the dead connection on the way out of atomic() and
        # connects again: no dead connection is left to see.
        with pytest.raises(DatabaseError) as failed:
            read_in_a_transaction_cut_off_halfway(alias)
        answer = middleware.process_exception(rf.get("/search/?q=cog"), failed.value)

    assert (alias, route.chosen, answer) == (REPLICA, PRIMARY, rerun)
