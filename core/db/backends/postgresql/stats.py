"""Typed snapshots of a pool and of the server, for metrics and health checks.

Readers (Prometheus instrumentation, `/readyz`) get these from
`connections[alias].pool_stats()` and `connections[alias].server_stats()` and
never touch the pool itself. Plain frozen dataclasses, like psycopg_pool's
`get_stats()` dict but typed and complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PoolStats:
    """One process's pool for one database alias, at one instant."""

    alias: str
    size: int  # connections open now (idle + in use)
    idle: int
    in_use: int
    waiting: int  # requests waiting for a connection now
    min_size: int
    max_size: int  # the current ceiling: min(budget share, threads, hard maximum)
    budget: int  # this process's fair share of the server's connection budget
    peers: int  # WidgetWorld processes connected to the server, this one included
    threads: int  # the most threads this process serves requests with
    # Counters since the process started.
    checkouts: int
    timeouts: int  # waited the full checkout timeout
    rejections: int  # turned away at once: the queue was full
    opened: int
    lost: int  # found broken (server restart, terminated backend, network)
    leaks: int  # held longer than the leak threshold
    resizes: int
    wait_seconds_total: float  # summed over checkouts
    hold_seconds_total: float  # summed over returns

    @property
    def saturation(self) -> float:
        """In-use connections over the ceiling: 1.0 means every connection is busy."""
        return self.in_use / self.max_size if self.max_size else 1.0


@dataclass(frozen=True, slots=True)
class ServerStats:
    """The server's connection slots as `pg_stat_activity` showed them."""

    max_connections: int
    reserved: int  # superuser_reserved_connections + reserved_connections (PG 16+)
    # (application_name, state) -> backends; state as pg_stat_activity has it.
    connections: dict[tuple[str, str], int] = field(default_factory=dict)
    sampled_at: float = 0.0  # time.time() of the sample

    @property
    def total(self) -> int:
        return sum(self.connections.values())

    @property
    def utilisation(self) -> float:
        return self.total / self.max_connections if self.max_connections else 0.0
