"""The benchmark machinery compares what it says it compares."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings

from core.db.backends.postgresql.options import HOST_NAME_KEY, SESSION_KEYS
from devtools.databases import migrated_database
from devtools.localdb import scratch_dir, scratch_workdir
from loadtests.bench import autoscale, incident, outage, replicas
from loadtests.bench.configs import SETUPS, cache_environment, database
from tests.conftest import MakePostgres
from tests.tools import require

BASE = settings.DATABASES["default"]


def test_widgetworld_is_benchmarked_exactly_as_configured() -> None:
    assert database("widgetworld", BASE) == BASE


@pytest.mark.parametrize("setup", ["2023", "django-default", "django-pool", "persistent"])
def test_django_setups_get_none_of_our_backends_options(setup: str) -> None:
    entry = database(setup, BASE)

    assert (entry["ENGINE"], {*SESSION_KEYS, HOST_NAME_KEY} & set(entry["OPTIONS"])) == (
        "django.db.backends.postgresql",
        set(),
    )


def test_every_setup_has_a_label_and_a_database() -> None:
    assert all(database(name, BASE, pgbouncer_port=6432)["NAME"] for name in SETUPS)


def test_only_the_cache_setups_cache_so_connection_strategies_compare_like_for_like() -> None:
    caching = {
        name
        for name in SETUPS
        if cache_environment(name, "redis://cache:6379/0")["CACHE_URL"] != "dummy://"
    }

    assert caching == {"widgetworld-cache", "widgetworld-cache-50ms"}


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
    require("pgbouncer", "pgbouncer")
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


# -- the autoscale rehearsal -------------------------------------------------------------


def rehearsed(
    answers: list[autoscale.Answer], totals: tuple[int, ...] = (20,)
) -> autoscale.Outcome:
    outcome = autoscale.Outcome(40, 2, 8, 8, autoscale.Timeline.default(quick=True))
    outcome.answers = answers
    outcome.samples = [
        autoscale.Sample(float(n), ("host-1",), {"host-1": total}, 0, total)
        for n, total in enumerate(totals, 1)
    ]
    return outcome


def missed(outcome: autoscale.Outcome) -> list[str]:
    return [name for name, ok, _ in autoscale.targets(outcome)[:3] if not ok]


def test_one_sample_over_the_budget_misses_the_budget_target() -> None:
    outcome = rehearsed([], totals=(20, 34, 20))

    assert missed(outcome) == ["WidgetWorld's connections never exceed the budget"]


def test_a_request_a_leaving_host_never_answered_is_a_drop() -> None:
    dropped = autoscale.Answer(1.0, "host-4", None, False, "ConnectionResetError", leaving=True)

    assert missed(rehearsed([dropped])) == ["No request dropped when a host leaves"]


def test_a_503_without_retry_after_is_a_server_error_but_with_it_shed_load() -> None:
    shed = autoscale.Answer(1.0, "host-1", 503, True)
    bare = autoscale.Answer(1.0, "host-1", 503, False)

    assert (rehearsed([shed]).server_errors(), rehearsed([shed, bare]).server_errors()) == (0, 1)


@pytest.mark.slow
def test_hosts_join_and_leave_under_load_within_the_budget_dropping_nothing(
    make_postgres: MakePostgres,
) -> None:
    cluster = make_postgres(
        {"max_connections": 40}, auth="scram-sha-256", password=incident.PASSWORD
    )
    migrated_database(cluster, seed=("--widgets", "300", "--seed", "1"))
    with scratch_workdir("widgetworld-autoscale-test-") as workdir:
        paths = incident.request_mix(cluster, workdir).read_text().split()
        outcome = autoscale.Rehearsal(
            cluster,
            paths,
            workdir,
            workers=2,
            threads=4,
            clients=8,
            timeline=autoscale.Timeline.default(quick=True),
        ).run()

    assert [(name, measured) for name, ok, measured in autoscale.targets(outcome) if not ok] == []


def test_the_outage_judges_checkout_on_the_attempts_that_sent_the_form() -> None:
    """A buyer stopped at a product page with no copy never met checkout: listed, not judged;
    an order begun before the stop or answered after the start did not meet the outage."""
    attempts = [
        outage.Attempt(-1, 303, None),
        outage.Attempt(0.4, 303, None, started=-0.2),  # placed as the stop began
        outage.Attempt(1, 503, "5"),
        outage.Attempt(2, 503, None, "product page"),
        outage.Attempt(3, 0, None, "product page"),
        outage.Attempt(4, 503, "5"),
        outage.Attempt(60.3, 303, None, started=59.8),  # placed as the database came back
    ]
    answers = outage.checkout_answers(attempts, outage_seconds=60)
    result = outage.Result("round", load(), load(), load(), 60, 1.0, 2.0, answers)
    [judged] = [t for t in outage.targets(result) if "checkout" in t[0]]

    assert (answers, judged[1]) == (
        {
            "checkout 503 with Retry-After": 2,
            "product page 503": 1,
            "product page no answer": 1,
        },
        True,
    )


# -- the read replicas' benchmark --------------------------------------------------------


def replica_run(
    setup: str, *, peaks: tuple[int, int] = (10, 10), statuses: dict[str, int] | None = None
) -> replicas.Run:
    return replicas.Run(
        setup,
        1,
        load(**(statuses or {"200": 100})),
        transactions={"primary": 10, "replica": 90},
        peaks=dict(zip(replicas.SERVERS, peaks, strict=True)),
    )


def replicas_missed(*runs: replicas.Run) -> list[str]:
    return [name for name, ok, _ in replicas.targets(list(runs)) if not ok]


def test_the_apps_routes_are_summed_over_workers() -> None:
    metrics = "\n".join(
        [
            'widgetworld_db_read_routes_total{alias="replica1",pid="1",reason="replica"} 30.0',
            'widgetworld_db_read_routes_total{alias="replica1",pid="2",reason="replica"} 12.0',
            'widgetworld_db_read_routes_total{alias="default",pid="1",reason="primary"} 5.0',
        ]
    )

    assert replicas.read_routes(metrics) == {
        ("replica1", "replica"): 42.0,
        ("default", "primary"): 5.0,
    }


def test_a_server_over_its_own_budget_misses_the_budget_target() -> None:
    over = replica_run(replicas.SETUPS[1], peaks=(10, replicas.BUDGET + 1))

    assert replicas_missed(over) == ["Each server's WidgetWorld connections within its own budget"]


def test_a_500_misses_the_error_target_but_a_polite_503_does_not() -> None:
    polite = replica_run(replicas.SETUPS[1], statuses={"200": 99, "503": 1})
    broken = replica_run(replicas.SETUPS[1], statuses={"200": 99, "500": 1})

    assert (replicas_missed(polite), replicas_missed(broken)) == (
        [],
        ["No error but 503 with Retry-After"],
    )
