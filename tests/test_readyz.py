"""/readyz: ready means the pool has room, the database answers and migrations are applied."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from prometheus_client import REGISTRY
from pytest_django.fixtures import DjangoAssertNumQueries, Settings

from core.db.backends.postgresql.stats import PoolStats
from core.health import readiness

pytestmark = pytest.mark.django_db


def a_pool(in_use: int, max_size: int = 10, waiting: int = 0) -> PoolStats:
    return PoolStats(
        alias="default", size=max_size, idle=max_size - in_use, in_use=in_use, waiting=waiting,
        min_size=2, max_size=max_size, budget=max_size, peers=1, threads=8, checkouts=0,
        timeouts=0, rejections=0, opened=0, lost=0, leaks=0, resizes=0,
        wait_seconds_total=0.0, hold_seconds_total=0.0,
    )  # fmt: skip


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> list[PoolStats]:
    """What `pool_stats()` reports: the data layer's snapshot, set by the test."""
    current = [a_pool(in_use=1)]
    monkeypatch.setattr(readiness, "pool_stats", lambda alias: current[0])
    return current


def test_ready_when_the_database_answers(client: Client) -> None:
    response = client.get("/readyz")

    assert (response.status_code, response.content) == (200, b"ok\n")


def test_healthz_is_the_same_probe(client: Client) -> None:
    assert client.get("/healthz").content == b"ok\n"


def test_verbose_lists_each_check_with_its_duration(client: Client) -> None:
    response = client.get("/readyz?verbose")

    lines = response.content.decode().splitlines()
    assert [line.split()[:2] for line in lines[1:]] == [
        ["pool", "ok"],
        ["database", "ok"],
        ["migrations", "ok"],
    ]
    assert all(" ms " in line for line in lines[1:])


def test_json_by_accept(client: Client) -> None:
    response = client.get("/readyz", headers={"Accept": "application/json"})

    body = response.json()
    assert (body["status"], [c["name"] for c in body["checks"]]) == (
        "ok",
        ["pool", "database", "migrations"],
    )
    assert all(c["duration_ms"] >= 0 for c in body["checks"])


def test_a_saturated_pool_is_not_ready_and_takes_no_connection(
    client: Client, pool: list[PoolStats], django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    pool[0] = a_pool(in_use=10, waiting=3)

    with django_assert_num_queries(0):
        response = client.get("/readyz", headers={"Accept": "application/json"})

    assert response.status_code == 503
    assert [(c["name"], c["status"]) for c in response.json()["checks"]] == [
        ("pool", "fail"),
        ("database", "skipped"),
        ("migrations", "skipped"),
    ]


def test_below_the_threshold_the_pool_is_ready(
    client: Client, pool: list[PoolStats], settings: Settings
) -> None:
    settings.READYZ_POOL_SATURATION = 0.9
    pool[0] = a_pool(in_use=8)

    assert client.get("/readyz").status_code == 200


def test_the_pod_scope_stays_ready_when_every_pool_is_saturated(
    client: Client, pool: list[PoolStats]
) -> None:
    """A surge saturates every pod together: the Service must keep them all (docs/scaling.md)."""
    pool[0] = a_pool(in_use=10, waiting=3)

    statuses = (client.get("/readyz").status_code, client.get("/readyz?scope=pod").status_code)

    assert statuses == (503, 200)


def test_the_pod_scope_still_reports_the_fleet_wide_checks(
    client: Client, pool: list[PoolStats]
) -> None:
    pool[0] = a_pool(in_use=10, waiting=3)

    response = client.get("/readyz?scope=pod", headers={"Accept": "application/json"})

    body = response.json()
    assert (body["scope"], [(c["name"], c["status"], c["counted"]) for c in body["checks"]]) == (
        "pod",
        [("pool", "fail", False), ("database", "skipped", False), ("migrations", "skipped", True)],
    )


def test_the_pod_scope_fails_on_this_pods_own_migrations(
    client: Client, unapplied_migration: str
) -> None:
    assert client.get("/readyz?scope=pod").status_code == 503


def test_an_unknown_scope_is_a_clear_400(client: Client) -> None:
    response = client.get("/readyz?scope=fleet")

    assert (response.status_code, b"all, pod" in response.content) == (400, True)


def test_readiness_is_exported_for_the_alert(client: Client) -> None:
    client.get("/readyz")

    assert REGISTRY.get_sample_value("widgetworld_ready") == 1


def test_every_evaluation_is_exported_as_it_happens(
    client: Client, pool: list[PoolStats], settings: Settings
) -> None:
    settings.READYZ_POOL_SATURATION = 0.9
    exported = []
    for in_use in (1, 10):
        pool[0] = a_pool(in_use=in_use)
        client.get("/readyz")
        exported.append(
            (
                REGISTRY.get_sample_value("widgetworld_ready"),
                REGISTRY.get_sample_value("widgetworld_readiness_check_ok", {"check": "pool"}),
            )
        )

    assert exported == [(1, 1), (0, 0)]


@pytest.fixture
def unapplied_migration(transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The newest catalog migration not recorded as applied, as when new code beats `migrate`.

    Committed, since the probe reads on a thread of its own; recorded again afterwards.
    """
    monkeypatch.setattr(readiness._probe, "migrated", False)  # forget an earlier success
    newest = MigrationRecorder.Migration.objects.filter(app="catalog").latest("id")
    newest.delete()
    yield f"catalog.{newest.name}"
    MigrationRecorder(connection).record_applied("catalog", newest.name)


def test_an_unapplied_migration_is_not_ready(client: Client, unapplied_migration: str) -> None:
    response = client.get("/readyz", headers={"Accept": "application/json"})

    [migrations] = [check for check in response.json()["checks"] if check["name"] == "migrations"]
    assert (
        response.status_code,
        migrations["status"],
        unapplied_migration in migrations["detail"],
    ) == (
        503,
        "fail",
        True,
    )
