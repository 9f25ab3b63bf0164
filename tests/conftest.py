"""The suite's own PostgreSQL and cache server, started once per session and torn down after.

Every test that touches the database talks to this real server through
WidgetWorld's own backend. Tests that need to stop, restart or reconfigure a
server get a private one from `make_postgres`, so they never disturb the rest.
The same goes for the cache: Django's default cache (and every process a test
starts, through CACHE_URL) uses the suite's own Valkey/Redis, emptied after
each test; `make_cache_server` gives a private one to stop or pause.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from catalog.caching.version import catalog_version
from core.cache import breaker_for
from devtools.databases import ReplicatedDatabase, replicated_database
from devtools.localcache import CacheServer
from devtools.localdb import PostgresCluster, scratch_dir, scratch_workdir

# Skips counted with their reasons at the end; in CI, none is allowed.
pytest_plugins = ["tests.skips"]

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
MakeCacheServer = Callable[[], CacheServer]
MakeReplicated = Callable[..., ReplicatedDatabase]

# A primary and its streaming replica: as production has them, commits are
# flushed before they return (and so streamed at once); durability is still off.
PAIR_SETTINGS = {**FAST_SETTINGS, "synchronous_commit": "on"}
PAIR_CATALOG = ("--widgets", "60", "--categories", "6", "--seed", "1")


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
    # All at once: one after another, two dozen servers' stops add half a minute to every run.
    with ThreadPoolExecutor(max_workers=max(len(clusters), 1)) as stopping:
        list(stopping.map(PostgresCluster.destroy, clusters))


@pytest.fixture(scope="session")
def make_replicated_postgres() -> Iterator[MakeReplicated]:
    """A real primary and a real streaming replica (pg_basebackup -R), never a second database.

    WidgetWorld's database is migrated and seeded with a small catalog on the
    primary and streamed to the replica. Each call makes a private pair, which
    its tests may pause, lag, stop and restart.
    """
    with contextlib.ExitStack() as stack:

        def make(
            server_settings: Mapping[str, str | int] | None = None,
            replica_settings: dict[str, str | int] | None = None,
        ) -> ReplicatedDatabase:
            root = stack.enter_context(scratch_workdir("widgetworld-pair-"))
            return stack.enter_context(
                replicated_database(
                    root,
                    seed=PAIR_CATALOG,
                    settings={**PAIR_SETTINGS, **(server_settings or {})},
                    replica_settings=replica_settings,
                )
            )

        yield make


def _new_cache_server() -> CacheServer:
    server = CacheServer(scratch_dir("widgetworld-cache-"))
    server.start()
    return server


@pytest.fixture(scope="session", autouse=True)
def cache_server() -> Iterator[CacheServer]:
    """The suite's cache server, for Django's default cache and for every process tests start."""
    server = _new_cache_server()
    default = {**settings.CACHES["default"], "LOCATION": server.url}
    previous = os.environ.get("CACHE_URL")
    os.environ["CACHE_URL"] = server.url
    try:
        with override_settings(CACHES={**settings.CACHES, "default": default}):
            yield server
    finally:
        if previous is None:
            os.environ.pop("CACHE_URL", None)
        else:
            os.environ["CACHE_URL"] = previous
        server.destroy()


@pytest.fixture(autouse=True)
def _empty_cache(cache_server: CacheServer) -> Iterator[None]:
    """Nothing one test caches is seen by the next (nor the catalog version a process kept)."""
    yield
    caches["default"].clear()
    catalog_version().forget()


@pytest.fixture(scope="session")
def make_cache_server() -> Iterator[MakeCacheServer]:
    """Private cache servers for tests that stop, pause or restart theirs."""
    servers: list[CacheServer] = []

    def make() -> CacheServer:
        servers.append(_new_cache_server())
        return servers[-1]

    yield make
    for server in servers:
        server.destroy()


@pytest.fixture
def cache_stopped(make_cache_server: MakeCacheServer) -> Iterator[None]:
    """The default cache pointed at a server that is then stopped; its breaker reset after."""
    server = make_cache_server()
    default = {**settings.CACHES["default"], "LOCATION": server.url}
    with override_settings(CACHES={**settings.CACHES, "default": default}):
        server.stop()
        yield
    breaker_for("default").record_success()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres: PostgresCluster) -> None:
    """Point Django at the suite's server before pytest-django creates the test database."""
    settings.DATABASES["default"].update(postgres.credentials("widgetworld").django())


@pytest.fixture
def admin_client(db: None, client: Any) -> Any:
    """pytest-django's admin client, logged in as the back office demands: with a one-time code."""
    from tests.staff import current_code, log_in, make_staff

    user, device = make_staff("admin")
    response = log_in(client, user.username, code=current_code(device))
    assert response.status_code == 302, response.content
    return client


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Rate-limit counters live in the cache: every test starts with none spent."""
    from django.core.cache import caches

    with contextlib.suppress(Exception):  # a test may have stopped the cache server
        caches[settings.RATE_LIMIT_CACHE].clear()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole test.

    Bound and never listening: a connection is refused at once, and no other
    process can start listening there meanwhile, as it could on a port merely
    found free.
    """
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        yield reserved.getsockname()[1]


# -- Slow: whatever its file says, a test given a server of its own is `slow` ---------------

# The fixtures that start a private server (a second PostgreSQL, a cache server).
PRIVATE_SERVERS = {"make_postgres", "make_cache_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PRIVATE_SERVERS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
