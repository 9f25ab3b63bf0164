"""The data layer's typed snapshots, per database alias, for metrics and readiness alike.

An alias whose backend is not WidgetWorld's (a second database on Django's
own backend, say) has no pool to report, which is the same answer as an
unpooled alias: None.
"""

from __future__ import annotations

from django.db import connections

from core.db.backends.postgresql.stats import PoolStats, ServerStats


def pool_stats(alias: str) -> PoolStats | None:
    """This process's pool for `alias`, read without touching the database."""
    read = getattr(connections[alias], "pool_stats", None)
    return read() if read else None


def server_stats(alias: str, max_age: float) -> ServerStats | None:
    """The server's connection slots; the backend caches it and uses a connection of its own."""
    read = getattr(connections[alias], "server_stats", None)
    return read(max_age=max_age) if read else None
