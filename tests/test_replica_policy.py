"""Which requests may read from a replica, and the read-your-writes token: the rules alone.

Where the reads then really go is shown against a real primary and replica in
tests/test_replicas.py and tests/db/test_routing.py; these pin the policy
view by view, fast, with no server.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import DatabaseError, OperationalError, connections
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import resolve, reverse

from core.db.routing.scope import replica_reads
from core.db.routing.writes import is_write
from core.http.routing import COOKIE, SALT, ReplicaRoutingMiddleware, replica_failed

middleware = ReplicaRoutingMiddleware(lambda request: HttpResponse())


def may_read_from_a_replica(request: HttpRequest) -> bool:
    """What the middleware decides for the view the request resolves to."""
    request.resolver_match = match = resolve(request.path)
    with replica_reads() as route:
        middleware.process_view(request, match.func, match.args, match.kwargs)
    return route.replicas_allowed


@pytest.mark.parametrize(
    ("url", "replica"),
    [
        (reverse("catalog:home"), True),
        (reverse("catalog:widgets"), True),
        (reverse("catalog:widget", kwargs={"slug": "brass-cog"}), True),
        (reverse("catalog:search"), True),
        (reverse("catalog:api-widgets"), True),
        # The stock a shopper decides on, and what they just bought: the latest.
        (reverse("catalog:cart"), False),
        (reverse("catalog:checkout"), False),
        (reverse("catalog:order-confirmation", kwargs={"number": "AB12CD34"}), False),
        # Staff see what they just saved.
        (reverse("admin:login"), False),
        (reverse("admin:catalog_widget_changelist"), False),
    ],
)
def test_catalog_pages_read_from_a_replica_and_the_rest_from_the_primary(
    rf: RequestFactory, url: str, replica: bool
) -> None:
    assert may_read_from_a_replica(rf.get(url)) is replica


def token_of(rf: RequestFactory, cookie: str, max_age: float = 30) -> int | None:
    request = rf.get("/")
    request.COOKIES[COOKIE] = cookie
    return ReplicaRoutingMiddleware._token(request, max_age)


def signed(value: str) -> str:
    response = HttpResponse()
    response.set_signed_cookie(COOKIE, value, salt=SALT)
    return response.cookies[COOKIE].value


def test_the_token_is_the_signed_wal_position(rf: RequestFactory) -> None:
    assert token_of(rf, signed("16b374d848")) == 0x16B374D848


@pytest.mark.parametrize(
    "cookie",
    ["16b374d848", signed("16b374d848")[:-2] + "xx", signed("not-hex")],
    ids=["unsigned", "tampered", "garbage"],
)
def test_a_token_the_server_did_not_sign_is_ignored(rf: RequestFactory, cookie: str) -> None:
    assert token_of(rf, cookie) is None


def test_an_expired_token_is_ignored(rf: RequestFactory) -> None:
    assert token_of(rf, signed("16b374d848"), max_age=-1) is None


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ('SELECT "catalog_widget"."id" FROM "catalog_widget"', False),
        ('SELECT "catalog_widget"."id" FROM "catalog_widget" FOR UPDATE', False),
        ('SAVEPOINT "s1_x1"', False),
        ('RELEASE SAVEPOINT "s1_x1"', False),
        ('INSERT INTO "catalog_order" ("number") VALUES (%s)', True),
        ('UPDATE "catalog_widget" SET "stock" = "stock" - 1', True),
        ('DELETE FROM "catalog_orderline"', True),
        ("WITH gone AS (DELETE FROM t RETURNING id) SELECT count(*) FROM gone", True),
    ],
)
def test_what_counts_as_a_write(sql: str, writes: bool) -> None:
    assert is_write(sql) is writes


def failure(cause: Exception) -> OperationalError:
    error = OperationalError(str(cause))
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("cause", "rerun"),
    [
        (psycopg.errors.SerializationFailure("conflict with recovery"), True),
        (psycopg.errors.AdminShutdown("terminating connection"), True),
        (psycopg.errors.CannotConnectNow("the database system is shutting down"), True),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (psycopg.errors.UndefinedTable('relation "x" does not exist'), False),
    ],
    ids=["recovery conflict", "shutdown", "starting or stopping", "slow query", "a bug"],
)
def test_a_page_runs_again_on_the_primary_only_when_the_replica_failed_it(
    cause: Exception, rerun: bool
) -> None:
    # "default" stands for a replica whose breaker is closed and whose connection did not die
    # during the page, which begins now.
    assert replica_failed("default", failure(cause), since=time.monotonic()) is rerun


@pytest.mark.parametrize(
    ("lost", "rerun"),
    [(-1.0, False), (+1.0, True)],
    ids=["before the page began", "during the page"],
)
def test_a_connection_lost_during_the_page_is_the_replica_failing_it(
    monkeypatch: pytest.MonkeyPatch, lost: float, rerun: bool
) -> None:
    # Without a SQLSTATE psycopg may raise a plain DatabaseError for a lost connection.
    began = time.monotonic()
    monkeypatch.setattr(connections["default"], "connection_lost_at", began + lost)
    error = DatabaseError("server closed the connection unexpectedly")
    error.__cause__ = psycopg.DatabaseError("server closed the connection unexpectedly")

    assert replica_failed("default", error, since=began) is rerun
