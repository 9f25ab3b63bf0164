"""The suite's own PostgreSQL, started once per session and torn down after.

Every test that touches the database talks to this real server through
WidgetWorld's own backend. Tests that need to stop, restart or reconfigure a
server get a private one from `make_postgres`, so they never disturb the rest.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from core.localdb import PostgresCluster

# Durability buys nothing in a throwaway cluster and costs seconds per run.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

MakePostgres = Callable[..., PostgresCluster]


def _new_cluster(
    server_settings: Mapping[str, str | int] | None = None, **options: Any
) -> PostgresCluster:
    # Under /tmp, not pytest's tmp_path: when we are root the server runs as
    # another user, and pytest's per-user base directory is private to root.
    cluster = PostgresCluster(
        Path(tempfile.mkdtemp(prefix="widgetworld-pg-")),
        settings={**FAST_SETTINGS, **(server_settings or {})},
        **options,
    )
    cluster.init()
    return cluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = _new_cluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def make_postgres() -> Iterator[MakePostgres]:
    """Private clusters for tests that stop, restart or reconfigure their server."""
    clusters: list[PostgresCluster] = []

    def make(
        server_settings: Mapping[str, str | int] | None = None, **options: Any
    ) -> PostgresCluster:
        clusters.append(_new_cluster(server_settings, **options))
        return clusters[-1]

    yield make
    for cluster in clusters:
        cluster.destroy()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres: PostgresCluster) -> None:
    """Point Django at the suite's server before pytest-django creates the test database."""
    settings.DATABASES["default"].update(postgres.credentials("widgetworld").django())
