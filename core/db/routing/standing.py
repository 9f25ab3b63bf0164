"""Is each replica fit to read from right now, and how far behind is it?

A replica is **in rotation** when all of these hold:

- its pool's breaker is closed (`connections[alias].breaker_open`): a server
  that cannot be reached is skipped at once, without waiting for anything;
- its WAL position was read within `stale_after` seconds (the pool's monitor
  reads it every 0.5 s, `replication.py`): a replica nobody could look at is
  not trusted;
- it is a standby (`pg_is_in_recovery()`): a server that left recovery (a
  promoted replica) no longer follows the primary;
- its **lag** is at most `max_lag` seconds.

The lag is the larger of two readings, because each misses a case:

- the standby's own: 0 once it has replayed all it received, otherwise the
  age of the last transaction it replayed. Paused or slow replay shows here.
- the primary's: the replica has replayed up to LSN *R*; the primary was
  first seen past *R* at time *T*; so the replica lacks writes at least
  `(when the replica was read) - T` old. A replica cut off from its primary
  has replayed all it received and calls itself current; this one does not.
  It needs the primary's position to be fresh (the primary's pool reads it
  too); while the primary cannot be read, the standby's own reading stands
  alone, so the catalog keeps browsing from replicas while the primary is down.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from django.db import connections

from core.db.backends.postgresql.replication import WalPosition, WalWatch
from core.db.routing.config import RoutingConfig


class Reason(enum.StrEnum):
    """Why a replica is in or out of rotation (a label on the metrics)."""

    OK = "ok"
    UNREACHABLE = "unreachable"
    STALE = "stale"  # its position has not been read lately
    NOT_STANDBY = "not_standby"
    LAGGING = "lagging"


@dataclass(frozen=True, slots=True)
class Standing:
    alias: str
    reason: Reason
    lag: float | None  # seconds; None when unknown
    position: WalPosition | None

    @property
    def in_rotation(self) -> bool:
        return self.reason is Reason.OK

    def has_replayed(self, lsn: int) -> bool:
        return self.position is not None and self.position.lsn >= lsn


def judge(
    alias: str,
    *,
    breaker_open: bool,
    position: WalPosition | None,
    primary: WalWatch | None,
    config: RoutingConfig,
    now: float,
) -> Standing:
    """One replica's standing from what its pool and the primary's pool last saw."""
    if breaker_open:
        return Standing(alias, Reason.UNREACHABLE, None, position)
    if position is None or now - position.sampled_at > config.stale_after:
        return Standing(alias, Reason.STALE, None, position)
    if not position.standby:
        return Standing(alias, Reason.NOT_STANDBY, None, position)
    lag = position.own_lag
    if primary is not None and primary.age() <= config.stale_after:
        passed = primary.passed(position.lsn)
        if passed is not None:
            lag = max(lag, position.sampled_at - passed)
    reason = Reason.LAGGING if lag > config.max_lag else Reason.OK
    return Standing(alias, reason, lag, position)


def standings(config: RoutingConfig) -> list[Standing]:
    """Every replica's standing now, from this process's pools (opened if need be)."""
    primary = connections[config.primary]
    primary_watch = primary.wal_watch() if hasattr(primary, "wal_watch") else None
    now = time.monotonic()
    result = []
    for alias in config.replicas:
        replica = connections[alias]
        watch = replica.wal_watch() if hasattr(replica, "wal_watch") else None
        result.append(
            judge(
                alias,
                breaker_open=bool(getattr(replica, "breaker_open", False)),
                position=watch.latest if watch is not None else None,
                primary=primary_watch,
                config=config,
                now=now,
            )
        )
    return result
