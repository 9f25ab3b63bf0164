"""Signal receivers: the pool's signals become counters and histograms, readiness gauges.

Connected once in `CoreConfig.ready()`. None of them touches the database
(the signals' contract), and none reads the pool: a pool event may be sent
while the pool holds its own lock, so they only wake the sampler.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.signals import request_started
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from prometheus_client import Counter

from core.db.backends.postgresql.signals import (
    connection_checked_out,
    connection_returned,
    pool_event,
)
from core.db.routing.config import RoutingConfig
from core.db.routing.router import Decision
from core.db.routing.signals import read_routed, rotation_changed
from core.db.routing.standing import Reason
from core.health.readiness import Readiness
from core.health.signals import readiness_evaluated
from core.metrics import definitions as m
from core.metrics import queries
from core.metrics.publish import publish_readiness
from core.metrics.sampler import sampler

# Pool events and the counter each one adds to. "breaker_closed" is logged by
# the pool and visible in the breaker gauge; it has no counter of its own.
EVENT_COUNTERS: dict[str, Counter] = {
    "timeout": m.POOL_TIMEOUTS,
    "rejected": m.POOL_REJECTED,
    "shed": m.POOL_SHED,
    "breaker_opened": m.BREAKER_TRIPS,
    "opened": m.POOL_OPENED,
    "lost": m.POOL_LOST,
    "leak": m.POOL_LEAKS,
    "resize": m.POOL_RESIZES,
}


def zero_counters(aliases: Iterable[str]) -> None:
    """Export every pool counter at 0 from the start.

    A series that first appears at 1 has no `increase()`: without this, the
    first timeout of a worker's life would never fire the alert.
    """
    for alias in aliases:
        for counter in EVENT_COUNTERS.values():
            counter.labels(alias)


def zero_routing_counters(config: RoutingConfig) -> None:
    """The same for the read routes and replicas' removals (see zero_counters)."""
    for decision in Decision:
        m.READ_ROUTES.labels(config.primary, str(decision))
    for alias in config.replicas:
        m.READ_ROUTES.labels(alias, str(Decision.REPLICA))
        for reason in Reason:
            if reason is not Reason.OK:
                m.REPLICA_OUT.labels(alias, str(reason))


@receiver(connection_checked_out, dispatch_uid="core.metrics.checked_out")
def observe_wait(sender: Any, alias: str, wait: float, **kwargs: Any) -> None:
    m.POOL_WAIT.labels(alias).observe(wait)


@receiver(connection_returned, dispatch_uid="core.metrics.returned")
def observe_hold(sender: Any, alias: str, hold: float, **kwargs: Any) -> None:
    m.POOL_HOLD.labels(alias).observe(hold)


@receiver(pool_event, dispatch_uid="core.metrics.pool_event")
def count_pool_event(sender: Any, alias: str, event: str, **kwargs: Any) -> None:
    counter = EVENT_COUNTERS.get(event)
    if counter is not None:
        counter.labels(alias).inc()
    sampler.wake()


@receiver(read_routed, dispatch_uid="core.metrics.read_routed")
def count_read_route(sender: Any, alias: str, reason: str, **kwargs: Any) -> None:
    m.READ_ROUTES.labels(alias, reason).inc()


@receiver(rotation_changed, dispatch_uid="core.metrics.rotation_changed")
def count_rotation_change(
    sender: Any, alias: str, in_rotation: bool, reason: str, **kwargs: Any
) -> None:
    if not in_rotation:
        m.REPLICA_OUT.labels(alias, reason).inc()
    m.REPLICA_IN_ROTATION.labels(alias).set(1 if in_rotation else 0)


@receiver(connection_created, dispatch_uid="core.metrics.queries")
def count_queries(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    queries.install(connection)


@receiver(request_started, dispatch_uid="core.metrics.sampler")
def start_sampler(sender: Any, **kwargs: Any) -> None:
    sampler.ensure_started()


@receiver(readiness_evaluated, dispatch_uid="core.metrics.readiness")
def export_readiness(sender: Any, readiness: Readiness, **kwargs: Any) -> None:
    publish_readiness(readiness)
