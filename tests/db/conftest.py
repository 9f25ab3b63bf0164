"""Pools built directly on the suite's PostgreSQL, for tests of the pool itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.db.backends.postgresql.options import PoolOptions
from core.db.backends.postgresql.pool import AdaptivePool
from devtools.localdb import PostgresCluster

MakePool = Callable[..., AdaptivePool]


@pytest.fixture
def make_pool(postgres: PostgresCluster) -> Iterator[MakePool]:
    pools: list[AdaptivePool] = []

    def make(
        *,
        fleet: str = "pooltest",
        process: str = "1",
        cluster: PostgresCluster | None = None,
        database: str = "pool_tests",
        configure: Callable[[Any], Any] | None = None,
        **options: Any,
    ) -> AdaptivePool:
        creds = (cluster or postgres).ensure_database(database)
        name = f"{fleet}/testhost/{process}"
        pool = AdaptivePool(
            alias=f"test{len(pools)}",
            options=PoolOptions.from_mapping({"budget_interval": 3600, **options}),
            connect_kwargs={
                "host": creds.host,
                "port": creds.port,
                "user": creds.user,
                "dbname": creds.database,
                "application_name": name,
                "autocommit": True,
            },
            configure=configure,
            fleet=fleet,
            application_name=name,
        )
        pool.open(wait=True)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()
