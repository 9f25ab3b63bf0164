"""Typed snapshots of a pool and of the server, for metrics and health checks.

Readers (Prometheus instrumentation, `/readyz`, the page cache's degraded
mode) get these from `connections[alias].pool_stats()` and
`connections[alias].server_stats()` and never touch the pool itself. Plain
frozen dataclasses, like psycopg_pool's `get_stats()` dict but typed and
complete.
"""

from __future__ import annotations

import dataclasses
import threading
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
    max_size: int  # the ceiling: min(budget share, threads, hard maximum)
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
    # The breaker (breaker.py): "closed", or "open" while the database is known
    # to be down and every checkout raises DatabaseUnavailable at once.
    breaker: str = "closed"
    breaker_trips: int = 0
    unavailable: int = 0  # refused at once while the breaker was open
    # The deadline queue (admission.py).
    standing_queue: bool = False  # new requests are being shed
    shed: int = 0  # turned away by it
    # The learned limit (limit.py), within [min_size, max_size], and its inputs.
    limit: int = 0
    limit_recent_query: float = 0.0  # mean seconds per query, last window
    limit_baseline_query: float = 0.0  # lowest window mean remembered
    limit_gradient: float = 1.0  # baseline / recent: 1.0 means no contention
    limit_throughput: float = 0.0  # queries per second, last window
    connection_errors: int = 0  # connection attempts that failed (psycopg_pool's count)

    @property
    def saturation(self) -> float:
        """In-use connections over the ceiling: 1.0 means every connection is busy."""
        return self.in_use / self.max_size if self.max_size else 1.0

    @property
    def breaker_open(self) -> bool:
        return self.breaker == "open"


@dataclass(slots=True)
class Counters:
    """Counters since the process started; the names are PoolStats's."""

    checkouts: int = 0
    timeouts: int = 0
    rejections: int = 0
    shed: int = 0
    unavailable: int = 0
    opened: int = 0
    lost: int = 0
    resizes: int = 0
    wait_seconds_total: float = 0.0
    hold_seconds_total: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def checked_out(self, wait: float) -> None:
        with self._lock:
            self.checkouts += 1
            self.wait_seconds_total += wait

    def returned(self, hold: float) -> None:
        with self._lock:
            self.hold_seconds_total += hold

    def add(self, **amounts: float) -> None:
        """Rarer events (timeouts, connections opened...): by name."""
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {
                f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "_lock"
            }


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
