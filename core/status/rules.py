"""From counted signals to a component's automatic status, with hysteresis.

Pure functions of their inputs and of `now`, so the tests inject the clock.

`assess` turns one window of counts (summed over every worker on every host,
see `signals.py`) into the status a component *would* have now. `Track.step`
publishes that status only once it has held for `degrade_after` seconds
(worse) or `recover_after` seconds (better), so one slow request, one scrape
or one unlucky second never flips the page, and a recovery must prove itself
before the banner goes away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from core.status.components import ComponentStatus

# Counted per component, per request (see `signals.Signal`).
REQUESTS = "requests"
UNAVAILABLE = "unavailable"  # 503: the database could not be reached
BUSY = "busy"  # 503: the pool timed out or turned the request away
FAILED = "failed"  # any other 5xx
STALE = "stale"  # answered from the last good copy (issue 9's degraded mode)

# Below this many requests in a window, shares say nothing: 1 failure of 2 is
# not a 50% outage. Readiness still counts.
MIN_REQUESTS = 10
# Share of a component's requests that failed (5xx of any kind), at which it is...
MAJOR_SHARE = 0.5  # ...in a major outage (most shoppers fail)
PARTIAL_SHARE = 0.1  # ...in a partial outage
DEGRADED_SHARE = 0.02  # ...degraded
# Share answered from stale copies at which browsing counts as degraded.
STALE_SHARE = 0.05


@dataclass(frozen=True)
class Window:
    """Every worker's counts over the last `seconds`, and what their heartbeats say."""

    seconds: float
    counts: Mapping[str, Mapping[str, int]]  # component -> signal -> count
    workers: int = 0  # workers that sent a heartbeat within the window
    unready: int = 0  # of those, how many last failed readiness
    database_down: int = 0  # of those, how many cannot reach the database

    def count(self, component: str, signal: str) -> int:
        return int(self.counts.get(component, {}).get(signal, 0))


@dataclass(frozen=True)
class Assessment:
    status: ComponentStatus
    reason: str


def assess(window: Window, component: str) -> Assessment:
    """The status the signals point at for `component` right now, and why, in words."""
    requests = window.count(component, REQUESTS)
    failed = sum(window.count(component, s) for s in (UNAVAILABLE, BUSY, FAILED))
    if window.workers and window.database_down == window.workers:
        return Assessment(ComponentStatus.MAJOR_OUTAGE, "the database cannot be reached")
    if requests >= MIN_REQUESTS:
        share = failed / requests
        why = f"{share:.0%} of requests failed in the last {window.seconds:g} s"
        if share >= MAJOR_SHARE:
            return Assessment(ComponentStatus.MAJOR_OUTAGE, why)
        if share >= PARTIAL_SHARE:
            return Assessment(ComponentStatus.PARTIAL_OUTAGE, why)
    if requests >= MIN_REQUESTS:
        share = failed / requests
        if share >= DEGRADED_SHARE:
            return Assessment(
                ComponentStatus.DEGRADED_PERFORMANCE,
                f"{share:.0%} of requests failed in the last {window.seconds:g} s",
            )
        stale = window.count(component, STALE) / requests
        if stale >= STALE_SHARE:
            return Assessment(
                ComponentStatus.DEGRADED_PERFORMANCE,
                f"{stale:.0%} of pages were served from a saved copy",
            )
    if window.unready or window.database_down:
        # Readiness also fails on a saturated pool: busy, slow, but serving.
        # Failing requests are judged by their share above.
        return Assessment(ComponentStatus.DEGRADED_PERFORMANCE, "servers are busy or not ready")
    return Assessment(ComponentStatus.OPERATIONAL, "")


@dataclass(frozen=True)
class Track:
    """A component's published automatic status and the change it is waiting to make.

    Serialised into the shared state (`asdict`/`from_dict`) so whichever
    worker evaluates next continues the same clock.
    """

    status: ComponentStatus = ComponentStatus.OPERATIONAL
    since: float = 0.0  # when `status` was published
    reason: str = ""
    candidate: ComponentStatus | None = None  # where the signals point, if elsewhere
    candidate_since: float | None = None  # since when they have pointed that way

    def step(
        self, target: Assessment, now: float, degrade_after: float, recover_after: float
    ) -> Track:
        """Move towards `target` once it has held long enough; a change of direction restarts."""
        if target.status == self.status:
            return replace(
                self, reason=target.reason or self.reason, candidate=None, candidate_since=None
            )
        worse = target.status.rank > self.status.rank
        same_direction = self.candidate is not None and (
            (self.candidate.rank > self.status.rank) == worse
        )
        since = self.candidate_since if same_direction and self.candidate_since is not None else now
        held = now - since
        if held >= (degrade_after if worse else recover_after):
            return Track(target.status, now, target.reason)
        return replace(self, candidate=target.status, candidate_since=since)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Track:
        candidate = data.get("candidate")
        return cls(
            status=ComponentStatus(data.get("status", "operational")),
            since=float(data.get("since", 0.0)),
            reason=str(data.get("reason", "")),
            candidate=ComponentStatus(candidate) if candidate else None,
            candidate_since=data.get("candidate_since"),
        )
