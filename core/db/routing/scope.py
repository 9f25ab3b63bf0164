"""Where this request's reads go: a context variable that follows the request's thread.

Reads go to a replica only inside `replica_reads()`, which the HTTP
middleware opens for safe requests (GET, HEAD); everywhere else (writes,
management commands, background work) they stay on the primary, as they
would without replicas. Within a scope:

- the first read chooses a replica and the rest of the request sticks to it,
  so one page never mixes two servers' snapshots;
- `primary()` (a context manager and decorator) sends the reads in its block
  to the primary, for code that must see the latest rows (stock checks);
- once the request writes, its later reads go to the primary too;
- `min_lsn` is the read-your-writes token: only a replica that has replayed
  the writer's last write may serve it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True)
class Route:
    """One request's routing state."""

    # Reads may go to a replica at all (a safe request, not pinned).
    replicas_allowed: bool = True
    # Only a replica that has replayed this LSN may serve it (read-your-writes).
    min_lsn: int | None = None
    # The alias the first read chose; later reads stick to it.
    chosen: str | None = None
    # This request wrote on the primary: reads after that go there too.
    wrote: bool = False
    # A replica failed under this request and it is being served again from the primary.
    retried: bool = False
    # When the request began (time.monotonic()): what failed since happened under it.
    started: float = field(default_factory=time.monotonic)

    def pin_primary(self) -> None:
        """From now on this request reads from the primary."""
        self.replicas_allowed = False


_route: ContextVar[Route | None] = ContextVar("widgetworld_db_route", default=None)
_pinned: ContextVar[int] = ContextVar("widgetworld_db_pinned", default=0)


def current_route() -> Route | None:
    return _route.get()


@contextlib.contextmanager
def replica_reads(min_lsn: int | None = None) -> Iterator[Route]:
    """Reads in this block may go to a replica (one per block, chosen at the first read)."""
    route = Route(min_lsn=min_lsn)
    token = _route.set(route)
    try:
        yield route
    finally:
        _route.reset(token)


@contextlib.contextmanager
def primary() -> Iterator[None]:
    """Reads in this block go to the primary, whatever the scope says; `@primary()` works too."""
    token = _pinned.set(_pinned.get() + 1)
    try:
        yield
    finally:
        _pinned.reset(token)


def pinned_to_primary() -> bool:
    return _pinned.get() > 0
