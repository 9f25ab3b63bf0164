"""The benchmark machinery compares what it says it compares."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings

from core.db.backends.postgresql.options import SESSION_KEYS
from devtools.localdb import scratch_dir
from loadtests.bench import incident
from loadtests.bench.configs import SETUPS, database
from tests.conftest import MakePostgres

BASE = settings.DATABASES["default"]


def test_widgetworld_is_benchmarked_exactly_as_configured() -> None:
    assert database("widgetworld", BASE) == BASE


@pytest.mark.parametrize("setup", ["2023", "django-default", "django-pool", "persistent"])
def test_django_setups_get_none_of_our_backends_options(setup: str) -> None:
    entry = database(setup, BASE)

    assert (entry["ENGINE"], set(SESSION_KEYS) & set(entry["OPTIONS"])) == (
        "django.db.backends.postgresql",
        set(),
    )


def test_every_setup_has_a_label_and_a_database() -> None:
    assert all(database(name, BASE, pgbouncer_port=6432)["NAME"] for name in SETUPS)


def load(**statuses: int) -> incident.Load:
    return incident.Load(
        100, 1.0, {k.replace("_", "-"): v for k, v in statuses.items()}, {}, 10, 20, 30
    )


def test_a_503_without_retry_after_is_an_error_not_shed_load() -> None:
    answers = load(**{"200": 90, "503": 5, "503_no_retry_after": 5})

    assert (answers.count(status=503), answers.count(server_errors=True)) == (5, 5)


def test_recovery_needs_a_clean_second_near_the_baseline() -> None:
    baseline = load(**{"200": 100})
    slow = incident.Load(100, 1.0, {"200": 100}, {}, 10, 20, 500)
    failing = load(**{"200": 99, "500": 1})

    assert [incident.recovered(p, baseline) for p in (baseline, slow, failing)] == [
        True,
        False,
        False,
    ]


@pytest.mark.slow
def test_pgbouncer_pools_in_transaction_mode_with_password_auth(
    make_postgres: MakePostgres,
) -> None:
    cluster = make_postgres(auth="scram-sha-256", password=incident.PASSWORD)
    cluster.ensure_database("widgetworld")
    workdir = scratch_dir("widgetworld-pgbouncer-")
    bouncer = incident.PgBouncer(cluster, workdir, pool_size=2)
    try:
        url = f"postgres://widgetworld:{incident.PASSWORD}@127.0.0.1:{bouncer.port}/widgetworld"
        with psycopg.connect(url) as conn:
            answer = conn.execute("SELECT 1").fetchone()
    finally:
        bouncer.stop()

    assert answer == (1,)
