"""The suite's own PostgreSQL, started once per session and torn down after.

Every test that touches the database talks to this real server through
WidgetWorld's own backend. Tests that need to stop, restart or reconfigure a
server get a private one from `make_postgres`, so they never disturb the rest.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from devtools.localdb import PostgresCluster

# Importing Locust (tests/loadtests/) would monkey-patch threads and sockets with
# gevent for the whole session, under Django and every other test. Import it
# unpatched once, here, and unset the switch so that the Locust processes tests
# start are patched as usual.
os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
try:
    import locust  # noqa: F401
finally:
    del os.environ["LOCUST_SKIP_MONKEY_PATCH"]

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
