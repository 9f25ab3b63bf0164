"""The fleet's connection budget, and this process's fair share of it.

Every WidgetWorld process names its connections `<fleet>/<host>/<pid>`, so one
look at `pg_stat_activity` tells how many of us there are and how many slots
other clients hold. Each process then takes an equal share of what is left:

    budget    = max_connections - superuser_reserved_connections
                - reserved_connections (PG 16+) - headroom
    available = budget - connections held by clients that are not ours
    share     = available // processes of ours connected

and caps its pool at min(share, its threads, the hard maximum), never below
the minimum. Start more processes and every share shrinks; the sum stays under
max_connections. docs/data-layer.md walks through the numbers.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from core.db.backends.postgresql.stats import ServerStats

SETTINGS_SQL = """
SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       coalesce(current_setting('reserved_connections', true)::int, 0)
"""
# Without pg_read_all_stats a role sees other roles' sessions with no
# backend_type or state; those with a user are counted as clients, which can
# only make the budget smaller (docs/data-layer.md: grant pg_read_all_stats).
ACTIVITY_SQL = """
SELECT coalesce(application_name, ''), coalesce(state, 'unknown'), count(*)
FROM pg_stat_activity
WHERE backend_type = 'client backend' OR (backend_type IS NULL AND usesysid IS NOT NULL)
GROUP BY 1, 2
"""


def application_name(fleet: str) -> str:
    """`<fleet>/<host>/<pid>`, within PostgreSQL's 63 characters."""
    suffix = f"/{os.getpid()}"
    head = f"{fleet}/{socket.gethostname()}"
    return head[: 63 - len(suffix)] + suffix


@dataclass(frozen=True, slots=True)
class Share:
    """The outcome of one budget computation."""

    budget: int  # slots the fleet may use in all
    available: int  # of which not held by other clients
    peers: int  # our processes connected, this one included
    share: int  # available // peers
    ceiling: int  # what this process's pool may grow to


def compute_share(
    server: ServerStats,
    *,
    fleet: str,
    me: str,
    headroom: int,
    min_size: int,
    max_size: int,
    threads: int | None,
) -> Share:
    prefix = f"{fleet}/"
    ours = {app for app, _state in server.connections if app.startswith(prefix)}
    others = sum(n for (app, _state), n in server.connections.items() if not app.startswith(prefix))
    budget = server.max_connections - server.reserved - headroom
    available = max(0, budget - others)
    peers = len(ours | {me})
    share = available // peers
    cap = min(share, max_size, threads or max_size)
    return Share(budget, available, peers, share, max(min_size, cap))


class ServerSampler:
    """Reads connection slots from the server on a connection of its own.

    Never from the pool: when the pool is saturated is exactly when the budget
    must be looked at again. The sampling connection is one of the slots the
    headroom keeps free.
    """

    def __init__(self, connect_kwargs: Mapping[str, Any]) -> None:
        self._kwargs = {**connect_kwargs, "connect_timeout": 3, "autocommit": True}
        self._last: ServerStats | None = None

    @property
    def last(self) -> ServerStats | None:
        return self._last

    def sample(self) -> ServerStats:
        with psycopg.connect(**self._kwargs) as conn:
            conn.execute("SET statement_timeout = 2000")
            max_connections, superuser_reserved, reserved = conn.execute(SETTINGS_SQL).fetchone()  # type: ignore[misc]
            rows = conn.execute(ACTIVITY_SQL).fetchall()
        self._last = ServerStats(
            max_connections=max_connections,
            reserved=superuser_reserved + reserved,
            connections={(app, state): count for app, state, count in rows},
            sampled_at=time.time(),
        )
        return self._last
