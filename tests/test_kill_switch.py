"""WIDGETWORLD_DB_POOL=false, the kill switch: the whole shop on Django's plain connections.

Ops turn the adaptive pool off when they suspect it; the shop must then still
sell. Under gunicorn, as production runs, so these are `slow`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest

from devtools.databases import migrated_database
from devtools.localdb import PostgresCluster
from devtools.servers import Answer, Gunicorn, http_get, serving, wait_for
from tests.catalog.shopping import pay, ready_to_pay

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def database_url(postgres: PostgresCluster) -> str:
    return migrated_database(
        postgres, "kill_switch", seed=["--widgets", "40", "--categories", "4", "--if-empty"]
    )


@pytest.fixture(scope="module")
def shop(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    log = tmp_path_factory.mktemp("kill_switch") / "gunicorn.log"
    with serving(database_url, log, WIDGETWORLD_DB_POOL="false", WEB_CONCURRENCY="2") as server:
        yield server


def a_widget_in_stock(database_url: str) -> tuple[str, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT slug, id FROM catalog_widget WHERE is_active AND stock > 0 ORDER BY id LIMIT 1"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_pages_are_served(shop: Gunicorn, database_url: str) -> None:
    slug, _ = a_widget_in_stock(database_url)
    paths = ["/", "/widgets/", "/search/?q=sprocket", f"/widgets/{slug}/", "/api/widgets/"]

    assert {path: shop.get(path).status for path in paths} == dict.fromkeys(paths, 200)


def test_a_shopper_can_check_out(shop: Gunicorn, database_url: str) -> None:
    shopper, form = ready_to_pay(shop.url, *a_widget_in_stock(database_url))

    assert pay(shop.url, shopper, form) == "placed"


def test_ready_says_the_database_is_not_pooled(shop: Gunicorn) -> None:
    # As the kubelet does, ask again until ready: without a pool, a worker's
    # first probe opens its first connection, which under coverage on a busy
    # machine can outlast READYZ_TIMEOUT once.
    def ready() -> Answer | None:
        probe = http_get(shop.url + "/readyz?verbose")
        return probe if probe.status == 200 else None

    answer = wait_for("/readyz to answer 200", ready, timeout=30)
    assert answer is not None  # wait_for returns only a truthy answer
    checks = {line.split()[0]: line for line in answer.body.decode().splitlines()[1:]}

    assert (answer.status, "not pooled" in checks["pool"], checks["database"].split()[1]) == (
        200,
        True,
        "ok",
    )


def test_metrics_are_served_and_no_pool_reports_anything(shop: Gunicorn) -> None:
    """The pool's counters may be listed at zero (so rates work); nothing else of a pool is."""
    assert shop.get("/").status == 200
    answer = http_get(shop.metrics_url)
    samples = re.findall(r"^(widgetworld_db_pool_\w+)\{[^}]*\} (\S+)$", answer.body.decode(), re.M)

    assert (answer.status, [name for name, value in samples if float(value) != 0]) == (200, [])


def idle_connections(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state = 'idle'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_no_connection_stays_open_between_requests(shop: Gunicorn, database_url: str) -> None:
    """Django's own behaviour without a pool: connect for the request, close after it."""
    assert shop.get("/").status == 200

    assert wait_for("no idle connection", lambda: idle_connections(database_url) == 0, 15)
