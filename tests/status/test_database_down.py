"""The status page and the banner with PostgreSQL really stopped, under real gunicorn.

The database is a private cluster this test stops and starts again; the
shared state lives in the cache, so shoppers keep being told, and what
happened meanwhile reaches PostgreSQL once it is back.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from devtools.localdb import PostgresCluster
from devtools.servers import Gunicorn, manage, wait_for
from tests.conftest import MakePostgres
from tests.status.conftest import TOKEN, alert, payload

pytestmark = pytest.mark.slow

DATABASE, TEMPLATE = "statusdown", "statusdown_migrated"
DATABASE_ID = sql.Identifier(DATABASE)


def post(server: Gunicorn, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        server.url + "/status/alertmanager",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def cluster(make_postgres: MakePostgres) -> PostgresCluster:
    """The module's cluster, with a migrated database that each test's is copied from."""
    cluster = make_postgres()
    manage(cluster.ensure_database(TEMPLATE).url, "migrate", "--noinput")
    return cluster


@pytest.fixture
def stack(cluster: PostgresCluster, tmp_path: Path) -> Iterator[tuple[PostgresCluster, Gunicorn]]:
    """A fresh copy of the migrated database, WidgetWorld on it; the cluster up (tests stop it)."""
    if not cluster.is_running():
        cluster.start()
    with cluster.admin_connect() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(DATABASE_ID))
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                DATABASE_ID, sql.Identifier(TEMPLATE), sql.Identifier(cluster.app_user)
            )
        )
    url = cluster.credentials(DATABASE).url
    server = Gunicorn(
        url,
        tmp_path / "gunicorn.log",
        WEB_CONCURRENCY="1",
        WEB_THREADS="4",
        STATUS_WEBHOOK_TOKEN=TOKEN,
        STATUS_MONITOR_INTERVAL="1",
        STATUS_LOCAL_TTL="0",
        STATUS_DEGRADE_AFTER="2",
    )
    try:
        server.wait_until_serving()
        yield cluster, server
    finally:
        server.stop()


def stored_incidents(cluster: PostgresCluster) -> list[tuple[str, str]]:
    with psycopg.connect(cluster.credentials(DATABASE).url) as connection:
        return connection.execute("SELECT name, status FROM status_incident ORDER BY id").fetchall()


def test_the_status_page_and_banner_outlive_the_database(
    stack: tuple[PostgresCluster, Gunicorn],
) -> None:
    cluster, server = stack
    started = datetime.now(UTC).timestamp()
    assert post(server, payload(alert(starts_at=started))) == 200
    cluster.stop()

    page = server.get("/status/")
    summary = json.loads(server.get("/status/summary.json").body)
    home = server.get("/")
    assert (page.status, "As of" in page.body.decode(), summary["incidents"][0]["name"]) == (
        200,
        True,
        "Some requests failing: Storefront",
    )
    # The shop itself cannot answer without its database: its 503 page still carries the banner.
    assert (home.status, b'class="status-banner' in home.body) == (503, True)


def test_what_happens_while_the_database_is_down_is_written_back(
    stack: tuple[PostgresCluster, Gunicorn],
) -> None:
    cluster, server = stack
    cluster.stop()
    started = datetime.now(UTC).timestamp()
    assert post(server, payload(alert(starts_at=started))) == 200
    assert post(server, payload(alert(status="resolved", starts_at=started))) == 200
    cluster.start()
    wait_for(
        "the incident in PostgreSQL",
        lambda: stored_incidents(cluster) == [("Some requests failing: Storefront", "resolved")],
        60,
    )


def test_a_database_outage_reaches_the_status_page_by_itself(
    stack: tuple[PostgresCluster, Gunicorn],
) -> None:
    """No alert, no human: the workers' own signals (the pool's breaker, the 503s)."""
    cluster, server = stack
    cluster.stop()
    assert server.get("/").status == 503

    def storefront() -> str:
        summary = json.loads(server.get("/status/summary.json").body)
        return str(next(c["status"] for c in summary["components"] if c["id"] == "storefront"))

    wait_for("the storefront in a major outage", lambda: storefront() == "major_outage", 30)
