"""WidgetWorld's database on a PostgreSQL of our own (and its replica): created, migrated, seeded.

The drill, the load suites, the benchmarks and the process-level tests all
start "a cluster with WidgetWorld's database, migrated (and seeded)" and must
remove it whatever happens. `make run` keeps its cluster between runs and
shows migrate's output, so `devtools.stack` prepares its database itself.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from devtools.localdb import PostgresCluster, StreamingReplica
from devtools.servers import manage

DATABASE = "widgetworld"


def seed_catalog(database_url: str, *seed_args: str) -> None:
    """Migrate, seed the demo catalog, and analyse it as a production catalog would be.

    VACUUM ANALYZE gives the planner statistics and merges the GIN indexes'
    pending lists, which autovacuum does soon after a bulk load anyway.
    """
    manage(database_url, "migrate", "--noinput")
    manage(database_url, "seed_catalog", *seed_args)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def migrated_database(
    cluster: PostgresCluster, name: str = DATABASE, *, seed: Sequence[str] | None = None
) -> str:
    """The URL of `name` on `cluster`, created if need be and migrated.

    With `seed` (seed_catalog's arguments) the catalog is seeded and analysed too.
    """
    url = cluster.ensure_database(name).url
    if seed is None:
        manage(url, "migrate", "--noinput")
    else:
        seed_catalog(url, *seed)
    return url


@dataclass(frozen=True)
class ScratchDatabase:
    cluster: PostgresCluster
    url: str


@contextlib.contextmanager
def scratch_database(
    root: Path,
    *,
    seed: Sequence[str] | None = None,
    keep_log: Path | None = None,
    **cluster_options: Any,
) -> Iterator[ScratchDatabase]:
    """A new cluster under `root` with WidgetWorld's database, destroyed whatever happens.

    `keep_log` receives a copy of the server's log first, even when the server
    failed to start, which is when it is wanted most. `cluster_options` are
    PostgresCluster's (`settings`, `auth`, `password`).
    """
    cluster = PostgresCluster(root, **cluster_options)
    try:
        cluster.init()
        yield ScratchDatabase(cluster, migrated_database(cluster, seed=seed))
    finally:
        if keep_log is not None and cluster.log_file.exists():
            shutil.copyfile(cluster.log_file, keep_log)
        cluster.destroy()


@dataclass(frozen=True)
class ReplicatedDatabase:
    primary: PostgresCluster
    replica: StreamingReplica
    url: str  # WidgetWorld's database on the primary
    replica_url: str  # the same database, read from the replica


@contextlib.contextmanager
def replicated_database(
    root: Path,
    *,
    seed: Sequence[str] | None = None,
    replica_settings: dict[str, str | int] | None = None,
    **cluster_options: Any,
) -> Iterator[ReplicatedDatabase]:
    """A primary and a streaming replica under `root`, with WidgetWorld's database; destroyed after.

    The replica is copied from the primary once it is migrated (and seeded),
    which is quicker than streaming the load, and has caught up when this yields.
    """
    primary = PostgresCluster(root / "primary", **cluster_options)
    replica = StreamingReplica(root / "replica", primary, settings=replica_settings)
    try:
        primary.init()
        url = migrated_database(primary, seed=seed)
        replica.init()
        replica.wait_caught_up()
        yield ReplicatedDatabase(primary, replica, url, replica.credentials(DATABASE).url)
    finally:
        replica.destroy()
        primary.destroy()
