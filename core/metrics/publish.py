"""Snapshots in, gauges out: the only code that writes the pool, server and readiness gauges."""

from __future__ import annotations

from core.db.backends.postgresql.stats import PoolStats, ServerStats
from core.db.routing.standing import Standing
from core.health.readiness import Readiness
from core.metrics import definitions as m

# Cardinality guard: application_name can be anything a client sets.
_MAX_APPLICATION_LENGTH = 40


def application_label(application_name: str) -> str:
    """`widgetworld/<host>/<pid>` becomes `widgetworld`: a series per application, not process."""
    name = application_name.split("/", 1)[0].strip()
    return name[:_MAX_APPLICATION_LENGTH] if name else "unnamed"


def publish_pool(stats: PoolStats) -> None:
    alias = stats.alias
    m.POOL_CONNECTIONS.labels(alias, "idle").set(stats.idle)
    m.POOL_CONNECTIONS.labels(alias, "in_use").set(stats.in_use)
    m.POOL_WAITING.labels(alias).set(stats.waiting)
    m.POOL_MIN.labels(alias).set(stats.min_size)
    m.POOL_MAX.labels(alias).set(stats.max_size)
    m.POOL_BUDGET.labels(alias).set(stats.budget)
    m.POOL_PEERS.labels(alias).set(stats.peers)
    m.POOL_LIMIT.labels(alias).set(stats.limit)
    m.POOL_LIMIT_QUERY.labels(alias, "recent").set(stats.limit_recent_query)
    m.POOL_LIMIT_QUERY.labels(alias, "baseline").set(stats.limit_baseline_query)
    m.POOL_LIMIT_GRADIENT.labels(alias).set(stats.limit_gradient)
    m.BREAKER_OPEN.labels(alias).set(1 if stats.breaker_open else 0)
    m.POOL_STANDING_QUEUE.labels(alias).set(1 if stats.standing_queue else 0)


def publish_standings(standings: list[Standing]) -> None:
    for standing in standings:
        m.REPLICA_IN_ROTATION.labels(standing.alias).set(1 if standing.in_rotation else 0)
        if standing.lag is not None:
            m.REPLICA_LAG.labels(standing.alias).set(standing.lag)


def publish_readiness(readiness: Readiness) -> None:
    m.READY.set(1 if readiness.ready else 0)
    for check in readiness.checks:
        if check.status != "skipped":  # a skipped check neither passed nor failed
            m.READINESS_CHECK.labels(check.name).set(1 if check.status == "ok" else 0)


class ServerPublisher:
    """Writes server gauges and zeroes the (state, application) pairs that went away.

    Under multiprocess mode a gauge's series cannot be removed, only set; a
    pair that vanished from pg_stat_activity would otherwise keep its last
    count forever.
    """

    def __init__(self) -> None:
        self._published: dict[str, set[tuple[str, str]]] = {}

    def publish(self, alias: str, stats: ServerStats) -> None:
        counts: dict[tuple[str, str], int] = {}
        for (application, state), n in stats.connections.items():
            key = (state or "unknown", application_label(application))
            counts[key] = counts.get(key, 0) + n
        for key in self._published.get(alias, set()) - counts.keys():
            m.SERVER_CONNECTIONS.labels(alias, *key).set(0)
        for (state, application), n in counts.items():
            m.SERVER_CONNECTIONS.labels(alias, state, application).set(n)
        self._published[alias] = self._published.get(alias, set()) | counts.keys()
        m.SERVER_MAX_CONNECTIONS.labels(alias).set(stats.max_connections)
        m.SERVER_RESERVED_CONNECTIONS.labels(alias).set(stats.reserved)
        m.SERVER_UTILISATION.labels(alias).set(stats.utilisation)
