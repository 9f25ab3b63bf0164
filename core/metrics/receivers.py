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


@receiver(connection_created, dispatch_uid="core.metrics.queries")
def count_queries(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    queries.install(connection)


@receiver(request_started, dispatch_uid="core.metrics.sampler")
def start_sampler(sender: Any, **kwargs: Any) -> None:
    sampler.ensure_started()


@receiver(readiness_evaluated, dispatch_uid="core.metrics.readiness")
def export_readiness(sender: Any, readiness: Readiness, **kwargs: Any) -> None:
    publish_readiness(readiness)
