"""Least privilege: deploy/postgres's roles on a real server, applied as compose applies them.

The migrator owns the schema and migrates; the web role reads and writes rows
and cannot change the schema; the web role sees every client's state, which
the pool's connection budget needs.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import sqlparse
from psycopg import errors

from devtools.localdb import PostgresCluster
from devtools.servers import manage
from tests.conftest import MakePostgres

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "postgres"


def run_sql_file(connection: psycopg.Connection, name: str) -> None:
    for statement in sqlparse.split((DEPLOY / name).read_text()):
        connection.execute(statement)


def url_as(cluster: PostgresCluster, role: str) -> str:
    creds = cluster.credentials("widgetworld")
    return f"postgres://{role}@{creds.host}:{creds.port}/widgetworld"


@pytest.fixture(scope="module")
def cluster(make_postgres: MakePostgres) -> PostgresCluster:
    """A server set up as compose sets it up, migrated by the migrator, seeded by the web role."""
    cluster = make_postgres()
    with cluster.admin_connect() as connection:
        run_sql_file(connection, "roles.sql")
    with cluster.admin_connect("widgetworld") as connection:
        run_sql_file(connection, "grants.sql")
    manage(url_as(cluster, "widgetworld_migrator"), "migrate", "--noinput")
    manage(url_as(cluster, "widgetworld_web"), "seed_catalog", "--widgets", "20")
    return cluster


def web(cluster: PostgresCluster) -> psycopg.Connection:
    return psycopg.connect(url_as(cluster, "widgetworld_web"), autocommit=True)


def test_the_web_role_reads_and_writes_rows(cluster: PostgresCluster) -> None:
    with web(cluster) as connection:
        connection.execute("UPDATE catalog_widget SET stock = stock + 1")
        [(widgets,)] = connection.execute("SELECT count(*) FROM catalog_widget").fetchall()

    assert widgets == 20


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE intruder (id int)",
        "ALTER TABLE catalog_widget ADD COLUMN intruder int",
        "DROP TABLE catalog_order CASCADE",
        "TRUNCATE catalog_widget CASCADE",
    ],
)
def test_the_web_role_cannot_change_the_schema(cluster: PostgresCluster, ddl: str) -> None:
    with web(cluster) as connection, pytest.raises(errors.InsufficientPrivilege):
        connection.execute(ddl)


def test_the_web_role_sees_every_clients_state(cluster: PostgresCluster) -> None:
    with (
        psycopg.connect(url_as(cluster, "widgetworld_migrator"), autocommit=True),
        web(cluster) as connection,
    ):
        states = connection.execute(
            "SELECT state FROM pg_stat_activity WHERE usename = 'widgetworld_migrator'"
        ).fetchall()

    assert states == [("idle",)]
