"""/readyz when the database refuses or hangs: a real socket fault, never a mock.

The failing databases are extra aliases at ports where no PostgreSQL
answers. They are not the suite's database, so these tests only lift
pytest-django's block on database access instead of wrapping each test in
a test case (which forbids threads from reaching aliases it was not told of).
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator

import pytest
from django.db import connections
from pytest_django import DjangoDbBlocker
from pytest_django.fixtures import Settings

from core.health import readiness
from devtools.localdb import PostgresCluster
from tests.conftest import MakePostgres

_serial = itertools.count()


@pytest.fixture(autouse=True)
def database_access(django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    with django_db_blocker.unblock():
        yield
        # A test that gave up on the probe thread leaves it finishing: wait for it.
        in_flight = readiness._probe._in_flight
        if in_flight is not None:
            in_flight.exception(timeout=10)


def alias_at(monkeypatch: pytest.MonkeyPatch, kind: str, port: int, **located: str) -> str:
    """A new database alias at `port`, unpooled, so no pool keeps retrying after the test.

    New each time: the probe thread keeps a wrapper per alias, made with the
    settings the alias had when it first used it.
    """
    name = f"{kind}-{next(_serial)}"
    config = {
        **connections.settings["default"],
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "NAME": "nowhere",
        **located,
    }
    config["OPTIONS"] = {**config.get("OPTIONS", {}), "pool": False, "connect_timeout": 2}
    monkeypatch.setitem(connections.settings, name, config)
    return name


def test_a_database_that_refuses_is_not_ready(
    monkeypatch: pytest.MonkeyPatch, refused_port: int
) -> None:
    result = readiness.evaluate(alias_at(monkeypatch, "refusing", refused_port))

    assert [(c.name, c.status) for c in result.checks] == [
        ("pool", "ok"),
        ("database", "fail"),
        ("migrations", "skipped"),
    ]
    assert result.checks[1].detail == "connection failed"


def test_a_failing_check_names_a_category_and_never_the_host(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, refused_port: int
) -> None:
    result = readiness.evaluate(alias_at(monkeypatch, "refusing", refused_port))
    detail = result.checks[1].detail

    assert ("127.0.0.1" in caplog.text, "127.0.0.1" in detail, "nowhere" in detail) == (
        True,
        False,
        False,
    )


@pytest.fixture
def hung_server() -> Iterator[int]:
    """A port that completes TCP handshakes and then never says a word: a hung server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_hung_database_is_not_ready_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, hung_server: int
) -> None:
    settings.READYZ_TIMEOUT = 0.3
    alias = alias_at(monkeypatch, "hung", hung_server)
    started = time.monotonic()

    result = readiness.evaluate(alias)

    assert (result.ready, result.checks[1].detail) == (False, "no answer within 0.3s")
    assert time.monotonic() - started < 2  # the connect timeout, which it did not wait for


def test_probes_do_not_pile_up_behind_a_hung_check(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, hung_server: int
) -> None:
    settings.READYZ_TIMEOUT = 0.1
    alias = alias_at(monkeypatch, "hung", hung_server)
    readiness.evaluate(alias)

    second = readiness.evaluate(alias)

    assert second.checks[1].detail == "the previous check is still waiting"


@pytest.fixture
def outage(make_postgres: MakePostgres) -> Iterator[PostgresCluster]:
    """A private PostgreSQL for the test to stop, started again for the next one."""
    cluster = make_postgres()
    yield cluster
    cluster.start()


@pytest.mark.slow
def test_a_database_outage_leaves_the_pod_ready_and_the_full_verdict_not(
    monkeypatch: pytest.MonkeyPatch, outage: PostgresCluster
) -> None:
    """Every pod loses the database together: none leaves the Service for it (docs/scaling.md)."""
    alias = alias_at(monkeypatch, "outage", outage.port, **outage.credentials("postgres").django())
    monkeypatch.setattr(readiness._probe, "migrated", True)  # checked before the outage
    before = readiness.evaluate(alias)
    outage.stop()

    during = readiness.evaluate(alias)

    assert [
        (result.ready_in("all"), result.ready_in("pod"), result.checks[1].status)
        for result in (before, during)
    ] == [(True, True, "ok"), (False, True, "fail")]


def test_pending_migrations_leave_the_pod_unready(
    monkeypatch: pytest.MonkeyPatch, outage: PostgresCluster
) -> None:
    """A database with none of our migrations: this pod's code is ahead of its schema."""
    alias = alias_at(monkeypatch, "bare", outage.port, **outage.credentials("postgres").django())
    monkeypatch.setattr(readiness._probe, "migrated", False)

    result = readiness.evaluate(alias)

    assert (result.checks[2].status, result.ready_in("pod")) == ("fail", False)
