"""The database router: reads to a replica fit to serve them, everything else to the primary.

`DATABASE_ROUTERS = ["core.db.routing.router.ReplicaRouter"]`. Django asks a
router which alias each query uses; this one answers from the request's
route (`scope.py`) and each replica's standing (`standing.py`). A read goes to:

1. the primary, outside `replica_reads()` (a write request, a management
   command, a thread of its own), inside `atomic()` on the primary or
   `primary()`, after the request wrote, and in a request pinned to the
   primary (an unsafe method, `@reads_from_primary`, the admin);
2. otherwise, at the request's first read, the least busy replica in
   rotation that has replayed the writer's token, kept for the rest of the
   request; the primary when replicas are in rotation but none has replayed
   the token (`read_your_writes`), or when none is in rotation (`fallback`),
   within the primary's own pool and budget. Whether a replica has replayed
   it is known from its pool's last reading (no query), and asked of the
   replica itself only when every reading is behind it.

`replayed()` narrows (2) for one block: only a replica that has replayed a
given position, for data labelled with one (the page cache's copies).

Writes always go to the primary; migrations never run on a replica (it is
read-only and gets the schema by replication).
"""

from __future__ import annotations

import contextlib
import enum
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connections
from django.db.models import Model

from core.db.routing import signals
from core.db.routing.config import RoutingConfig, routing_config
from core.db.routing.rotation import rotation
from core.db.routing.scope import Route, current_route, pinned_to_primary
from core.db.routing.standing import Standing
from core.db.routing.writes import replayed_lsn


class Decision(enum.StrEnum):
    """Why a request's reads went where they went (a label on the metrics)."""

    REPLICA = "replica"
    PRIMARY = "primary"  # the request must read from the primary
    READ_YOUR_WRITES = "read_your_writes"  # no replica in rotation has replayed its write
    FALLBACK = "fallback"  # no replica in rotation
    # The replica failed under the request (`core.http.routing`), which ran again on the primary.
    REPLICA_FAILED = "replica_failed"


_turns = itertools.count()


def read_alias(config: RoutingConfig) -> str:
    """The alias this read goes to (the rules are in the module's docstring)."""
    primary = config.primary
    route = current_route()
    if route is None or pinned_to_primary() or connections[primary].in_atomic_block:
        return primary
    if not route.replicas_allowed or route.wrote:
        if route.chosen is None:
            _decided(route, primary, Decision.PRIMARY)
        return primary
    if route.chosen is None:
        alias, decision = choose(config, route)
        _decided(route, alias, decision)
    return route.chosen or primary


def choose(config: RoutingConfig, route: Route) -> tuple[str, Decision]:
    fit = [s for s in rotation.standings(config) if s.in_rotation]
    if not fit:
        return config.primary, Decision.FALLBACK
    if route.min_lsn is not None:
        caught_up = [s for s in fit if s.has_replayed(route.min_lsn)]
        if not caught_up:
            # The pools' readings are up to 0.5 s old and the write is usually
            # more recent than that: ask the replica itself, once, rather than
            # send every read after every write to the primary for that long.
            candidate = least_busy(fit).alias
            if (replayed_lsn(candidate) or 0) < route.min_lsn:
                return config.primary, Decision.READ_YOUR_WRITES
            return candidate, Decision.REPLICA
        fit = caught_up
    return least_busy(fit).alias, Decision.REPLICA


@contextlib.contextmanager
def replayed(position: Callable[[], int | None]) -> Iterator[None]:
    """Reads in this block go only to a replica that has replayed `position()`, or to the primary.

    For reads whose result is labelled with a point in the primary's history
    that is not the reader's own write: the page cache stores a render under a
    catalog version, so the render must show every write that version stands
    for, whoever reads the copy later. `position()` None (unknown) sends the
    block to the primary. It is asked only when the block could read from a
    replica at all, so a request bound for the primary, and every request
    without replicas, pays nothing. A replica the request already chose is
    given up (it may be behind), and the request keeps the block's choice.
    """
    config = routing_config()
    route = current_route()
    if (
        route is None
        or not config.replicas
        or pinned_to_primary()
        or not route.replicas_allowed
        or route.wrote
        or route.chosen == config.primary
    ):
        yield
        return
    lsn = position()
    saved = route.min_lsn, route.replicas_allowed
    if lsn is None:
        route.replicas_allowed = False
    else:
        route.min_lsn = max(lsn, route.min_lsn or 0)
    route.chosen = None
    try:
        yield
    finally:
        route.min_lsn, route.replicas_allowed = saved


def pool_load(alias: str) -> tuple[int, float]:
    """This process's pool for `alias`: requests waiting, then the share of its limit in use."""
    stats = getattr(connections[alias], "pool_stats", lambda: None)()
    if stats is None:
        return (0, 0.0)
    return (stats.waiting, stats.in_use / max(stats.limit, 1))


def least_busy(
    fit: list[Standing], load: Callable[[str], tuple[int, float]] = pool_load
) -> Standing:
    """The replica whose pool in this process has the fewest waiting, then the most room.

    Ties (the usual case when all are idle) go round in turn, so no replica
    is everyone's first choice.
    """
    if len(fit) == 1:
        return fit[0]
    start = next(_turns) % len(fit)
    turn = fit[start:] + fit[:start]
    return min(turn, key=lambda standing: load(standing.alias))


def _decided(route: Route, alias: str, decision: Decision) -> None:
    route.chosen = alias
    signals.read_routed.send(sender=ReplicaRouter, alias=alias, reason=str(decision))


class ReplicaRouter:
    """Django's router protocol over `read_alias`; configured by `settings.DATABASE_ROUTING`."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        config = routing_config()
        return read_alias(config) if config.replicas else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return routing_config().primary

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        config = routing_config()
        ours = {config.primary, *config.replicas}
        # The same rows, whichever server they were read from.
        return True if {obj1._state.db, obj2._state.db} <= ours else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db in routing_config().replicas else None
