"""The fleet's connection budget, and this process's fair share of it.

Every WidgetWorld process names its pool connections `<fleet>/<host>/<pid>`,
so one look at `pg_stat_activity` tells how many of us there are, how many
connections each holds, and how many slots other clients take:

    budget    = max_connections - superuser_reserved_connections
                - reserved_connections (PG 16+) - headroom
    available = budget - connections of clients that are not ours
    reserve   = min(processes x min_size, available // 4)
    share     = (available - reserve) // processes, plus one for the first
                (available - reserve) % processes processes by name

The reserve keeps room for as many processes again to join (each must hold
min_size connections before the others can see it) before anyone looks again.
A process may not grow into slots others still hold, so until the others have
shrunk it grows only into its part of the free ones:

    ceiling = min(share, mine + my part of free, threads, hard maximum),
              never below min_size

Both splits hand the remainder of the division out one slot each, in the
order of the processes' names, which every process sees alike: flooring
alone would leave up to one slot per process unused (at 100 processes
sharing 145 slots, 45 idle while shoppers wait).

Start more processes and every share shrinks while the sum stays within the
budget; docs/data-layer.md walks through the numbers.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
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


# How many of our processes hold connections: cheap enough to ask on a
# connection in hand every couple of seconds, so a fleet change is noticed at
# once rather than at the next full look.
PEERS_SQL = (
    "SELECT count(DISTINCT application_name) FROM pg_stat_activity"
    " WHERE starts_with(application_name, %s)"
)


def count_peers(conn: psycopg.Connection[Any], fleet: str) -> int:
    return int(conn.execute(PEERS_SQL, [f"{fleet}/"]).fetchone()[0])  # type: ignore[index]


def application_name(fleet: str, role: str = "", host: str = "") -> str:
    """`<fleet>/<host>/<pid>` (or `<fleet>-<role>/...`), within PostgreSQL's 63 characters.

    `host` defaults to the machine's name. Containers that share one (pods on
    the host network) or processes started side by side to stand for hosts
    name themselves, or two of them could end up with the same name and count
    as one process.
    """
    suffix = f"/{os.getpid()}"
    head = f"{fleet}-{role}" if role else fleet
    head = f"{head}/{host or socket.gethostname()}"
    return head[: 63 - len(suffix)] + suffix


@dataclass(frozen=True, slots=True)
class Share:
    """The outcome of one budget computation."""

    budget: int  # slots the fleet may use in all
    available: int  # of which not held by other clients
    peers: int  # our processes connected, this one included
    share: int  # this process's fair part of the available slots
    ceiling: int  # what this process's pool may grow to now


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
    members = f"{fleet}/"
    # Sampling connections live in the headroom; they are neither us nor others.
    monitors = f"{fleet}-monitor/"
    ours: Counter[str] = Counter()
    others = 0
    for (app, _state), count in server.connections.items():
        if app.startswith(members):
            ours[app] += count
        elif not app.startswith(monitors):
            others += count
    budget = server.max_connections - server.reserved - headroom
    available = max(0, budget - others)
    ranked = sorted(ours.keys() | {me})
    peers, rank = len(ranked), ranked.index(me)
    reserve = min(peers * min_size, available // 4)
    share = part(available - reserve, peers, rank)
    free = max(0, available - sum(ours.values()))
    cap = min(share, ours[me] + part(free, peers, rank), max_size, threads or max_size)
    return Share(budget, available, peers, share, max(min_size, cap))


def part(total: int, parts: int, rank: int) -> int:
    """The `rank`th of `parts` parts of `total` that differ by at most one and add up to it."""
    return total // parts + (1 if rank < total % parts else 0)


class ServerSampler:
    """Reads connection slots from the server on a connection of its own.

    Never from the pool: when the pool is saturated is exactly when the budget
    must be looked at again. The sampling connection is one of the slots the
    headroom keeps free.
    """

    def __init__(self, connect_kwargs: Mapping[str, Any], application_name: str) -> None:
        self._kwargs = {
            **connect_kwargs,
            "application_name": application_name,
            "connect_timeout": 3,
            "autocommit": True,
        }
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
