"""The release suites' load over time: smoke, baseline, spike, soak and scaleout.

Every suite is a fixed list of stages with a fixed end, so a run always stops
by itself; the numbers are what `docs/load-testing.md` tells ops. Plain data,
without Locust, so that the runner (loadtests/run.py) can read them without
importing Locust, which monkey-patches the importing process with gevent;
loadtests/shapes.py plays them in Locust.

A user here is a person with think times, not a request loop: about half a
request a second (loadtests/users.py; measured in docs/load-testing.md), so
40 users are a quiet weekday (`BASELINE_USERS`) and the spike's 400 are the
2023 surge.
"""

from __future__ import annotations

from dataclasses import dataclass

BASELINE_USERS = 40
# The 2023 surge, relative to an ordinary day.
SPIKE_FACTOR = 10
# What the scaleout shape logs when more app processes should join; the runner
# (loadtests/run.py) watches Locust's output for it, an operator can too.
SCALE_OUT_MARK = "scaleout: add app processes now"


@dataclass(frozen=True)
class Stage:
    """Hold `users` until `until` seconds after the start, changing by `spawn_rate` a second."""

    until: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class Suite:
    name: str
    purpose: str
    stages: tuple[Stage, ...]
    # Seconds after the start at which app processes are added (scaleout only).
    scale_out_at: float | None = None

    @property
    def duration(self) -> float:
        return self.stages[-1].until

    @property
    def peak_users(self) -> int:
        return max(stage.users for stage in self.stages)

    def at(self, seconds: float) -> tuple[int, float] | None:
        """(users, spawn rate) `seconds` after the start; None once the suite is over."""
        for stage in self.stages:
            if seconds < stage.until:
                return stage.users, stage.spawn_rate
        return None


SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite(
            "smoke",
            "Every page and API endpoint answers under light load: a minute, before anything else.",
            (Stage(60, 10, 5),),
        ),
        Suite(
            "baseline",
            "An ordinary day, steady for five minutes: the latency every release is held to.",
            (Stage(300, BASELINE_USERS, 4),),
        ),
        Suite(
            "spike",
            "The 2023 incident: ten times the baseline within seconds, held, then back.",
            (
                Stage(60, BASELINE_USERS, 10),
                Stage(150, BASELINE_USERS * SPIKE_FACTOR, 90),
                Stage(270, BASELINE_USERS, 90),
            ),
        ),
        Suite(
            "soak",
            "The baseline for an hour: leaks, pool drift and slow growth show up here.",
            (Stage(3600, BASELINE_USERS, 4),),
        ),
        Suite(
            "scaleout",
            "1.5 times the baseline held for six minutes while app processes are added at 2:00.",
            (Stage(360, BASELINE_USERS * 3 // 2, 4),),
            scale_out_at=120,
        ),
    )
}
DEFAULT_SUITE = "smoke"
