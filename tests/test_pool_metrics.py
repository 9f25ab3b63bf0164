"""The pool's signals and snapshots become the metrics the alerts and dashboard read.

Fed by sending the data layer's own signals and by handing the publisher
`PoolStats`/`ServerStats` values, exactly what the pool and the sampler do.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
from django.db import connection
from django.dispatch import Signal
from django.test import Client
from prometheus_client import REGISTRY

from core.db.backends.postgresql import base
from core.db.backends.postgresql.signals import (
    connection_checked_out,
    connection_returned,
    pool_event,
)
from core.db.backends.postgresql.stats import PoolStats, ServerStats
from core.metrics.publish import ServerPublisher, application_label, publish_pool

# A fresh alias per test: metrics live for the whole process.
_aliases = (f"t{n}" for n in itertools.count())


@pytest.fixture
def alias() -> str:
    return next(_aliases)


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def stats(alias: str, **changes: Any) -> PoolStats:
    base_stats = PoolStats(
        alias=alias, size=6, idle=2, in_use=4, waiting=1, min_size=2, max_size=8, budget=12,
        peers=3, threads=8, checkouts=100, timeouts=0, rejections=0, opened=6, lost=0, leaks=0,
        resizes=1, wait_seconds_total=0.5, hold_seconds_total=3.0,
    )  # fmt: skip
    return dataclasses.replace(base_stats, **changes)


def send(signal: Signal, alias: str, **kwargs: object) -> None:
    signal.send(sender=base.DatabaseWrapper, alias=alias, **kwargs)


def test_checkout_waits_fill_the_wait_histogram(alias: str) -> None:
    for wait in (0.0002, 0.0002, 1.5):
        send(connection_checked_out, alias, wait=wait)

    assert (
        value("widgetworld_db_pool_wait_seconds_count", alias=alias),
        value("widgetworld_db_pool_wait_seconds_bucket", alias=alias, le="0.001"),
    ) == (3, 2)


def test_returned_connections_fill_the_hold_histogram(alias: str) -> None:
    send(connection_returned, alias, hold=0.2)

    assert value("widgetworld_db_pool_hold_seconds_sum", alias=alias) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("event", "metric"),
    [
        ("timeout", "widgetworld_db_pool_timeouts_total"),
        ("rejected", "widgetworld_db_pool_rejected_total"),
        ("shed", "widgetworld_db_pool_shed_total"),
        ("breaker_opened", "widgetworld_db_breaker_trips_total"),
        ("opened", "widgetworld_db_pool_connections_opened_total"),
        ("lost", "widgetworld_db_pool_connections_lost_total"),
        ("leak", "widgetworld_db_pool_leaks_total"),
        ("resize", "widgetworld_db_pool_resizes_total"),
    ],
)
def test_each_pool_event_counts_once(alias: str, event: str, metric: str) -> None:
    send(pool_event, alias, event=event, context={"ceiling": 4})
    send(pool_event, alias, event=event, context={"ceiling": 4})

    assert value(metric, alias=alias) == 2


def test_the_breaker_closing_counts_as_nothing_new(alias: str) -> None:
    send(pool_event, alias, event="breaker_closed", context={})

    assert value("widgetworld_db_breaker_trips_total", alias=alias) is None


def test_the_breaker_and_the_learned_limit_are_gauges(alias: str) -> None:
    publish_pool(stats(alias, limit=3, breaker="open", limit_gradient=0.5))

    assert (
        value("widgetworld_db_pool_limit", alias=alias),
        value("widgetworld_db_breaker_open", alias=alias),
        value("widgetworld_db_pool_limit_gradient", alias=alias),
    ) == (3, 1, 0.5)


def test_a_snapshot_sets_every_pool_gauge(alias: str) -> None:
    publish_pool(stats(alias))

    assert {
        "idle": value("widgetworld_db_pool_connections", alias=alias, state="idle"),
        "in_use": value("widgetworld_db_pool_connections", alias=alias, state="in_use"),
        "waiting": value("widgetworld_db_pool_waiting", alias=alias),
        "min": value("widgetworld_db_pool_min", alias=alias),
        "max": value("widgetworld_db_pool_max", alias=alias),
        "budget": value("widgetworld_db_pool_budget", alias=alias),
        "peers": value("widgetworld_db_pool_peers", alias=alias),
    } == {"idle": 2, "in_use": 4, "waiting": 1, "min": 2, "max": 8, "budget": 12, "peers": 3}


def test_a_later_snapshot_replaces_the_gauges(alias: str) -> None:
    publish_pool(stats(alias))
    publish_pool(stats(alias, in_use=1, max_size=5))

    assert (
        value("widgetworld_db_pool_connections", alias=alias, state="in_use"),
        value("widgetworld_db_pool_max", alias=alias),
    ) == (1, 5)


def server(connections: dict[tuple[str, str], int]) -> ServerStats:
    return ServerStats(max_connections=100, reserved=3, connections=connections)


def test_server_connections_are_grouped_by_application_not_process(alias: str) -> None:
    ServerPublisher().publish(
        alias,
        server(
            {
                ("widgetworld/web-1/101", "idle"): 4,
                ("widgetworld/web-2/202", "idle"): 3,
                ("psql", "active"): 1,
            }
        ),
    )

    assert (
        value("widgetworld_db_server_connections", alias=alias, state="idle",
              application="widgetworld"),
        value("widgetworld_db_server_connections", alias=alias, state="active",
              application="psql"),
        value("widgetworld_db_server_utilisation_ratio", alias=alias),
        value("widgetworld_db_server_max_connections", alias=alias),
    ) == (7, 1, 0.08, 100)  # fmt: skip


def test_a_vanished_application_drops_to_zero(alias: str) -> None:
    publisher = ServerPublisher()
    publisher.publish(alias, server({("psql", "active"): 2, ("widgetworld/a/1", "idle"): 1}))
    publisher.publish(alias, server({("widgetworld/a/1", "idle"): 1}))

    assert (
        value("widgetworld_db_server_connections", alias=alias, state="active", application="psql")
        == 0
    )


@pytest.mark.parametrize(
    ("name", "label"),
    [("widgetworld/web-1/4242", "widgetworld"), ("", "unnamed"), ("x" * 90, "x" * 40)],
)
def test_application_names_become_bounded_labels(name: str, label: str) -> None:
    assert application_label(name) == label


@pytest.mark.django_db
def test_queries_are_counted_for_django_prometheus(client: Client) -> None:
    connection.ensure_connection()
    before = value("django_db_execute_total", alias="default", vendor="postgresql") or 0

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    assert value("django_db_execute_total", alias="default", vendor="postgresql") == before + 1


def test_pool_counters_start_at_zero_so_the_first_timeout_is_an_increase() -> None:
    assert value("widgetworld_db_pool_timeouts_total", alias="default") is not None
