"""This process's view of which replicas are in rotation, and the news when that changes.

Standings are judged afresh at every request's first read (`standing.py`:
a few attribute reads and a binary search, no query); this module remembers
each replica's last reason so that a change is logged once and signalled
once (`rotation_changed`, counted by the metrics), not at every request.
"""

from __future__ import annotations

import logging
import threading

from core.db.routing import signals
from core.db.routing.config import RoutingConfig
from core.db.routing.standing import Reason, Standing, standings

logger = logging.getLogger("core.db.routing")


class Rotation:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reasons: dict[str, Reason] = {}

    def standings(self, config: RoutingConfig) -> list[Standing]:
        current = standings(config)
        for standing in current:
            if self._reasons.get(standing.alias) is not standing.reason:
                self._changed(standing, config)
        return current

    def _changed(self, standing: Standing, config: RoutingConfig) -> None:
        with self._lock:
            previous = self._reasons.get(standing.alias)
            if previous is standing.reason:
                return  # another thread saw it first
            self._reasons[standing.alias] = standing.reason
        lag = f"{standing.lag:.1f} s behind" if standing.lag is not None else "lag unknown"
        extra = {
            "alias": standing.alias,
            "reason": str(standing.reason),
            "lag": standing.lag,
            "replica_event": "in_rotation" if standing.in_rotation else "out_of_rotation",
        }
        if standing.in_rotation:
            level = logging.INFO if previous is not None else logging.DEBUG
            logger.log(level, "replica %s in rotation (%s)", standing.alias, lag, extra=extra)
        else:
            why = {
                Reason.UNREACHABLE: "unreachable",
                Reason.STALE: "its WAL position could not be read lately",
                Reason.NOT_STANDBY: "it is not a standby (promoted?)",
                Reason.LAGGING: f"lagging, over {config.max_lag:g} s",
            }[standing.reason]
            logger.warning(
                "replica %s out of rotation: %s (%s); its reads go elsewhere",
                standing.alias,
                why,
                lag,
                extra=extra,
            )
        signals.rotation_changed.send(
            sender=Rotation,
            alias=standing.alias,
            in_rotation=standing.in_rotation,
            reason=str(standing.reason),
            lag=standing.lag,
        )


rotation = Rotation()
