"""`make drill` as a test: a surge pages, shoppers are told, and everything resolves by itself.

About two minutes: it starts PostgreSQL, a cache server, gunicorn, Alertmanager,
Prometheus and Chromium (see devtools/drill.py). The screenshots stay in
test-artifacts/drill/ for a human to look at.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools import drill
from devtools.localdb import scratch_workdir
from tests.tools import require


@pytest.mark.slow
def test_a_surge_pages_shows_the_banner_and_everything_resolves_by_itself() -> None:
    require("prometheus")
    require("prometheus-alertmanager", package="prometheus-alertmanager")
    require("chromium", package="chromium")
    with scratch_workdir("widgetworld-drill-") as workdir:
        result = drill.run(workdir)

    assert drill.verdict(result) == [], result.table()


def rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def test_the_drill_rules_are_the_real_ones_on_a_compressed_clock(tmp_path: Path) -> None:
    drilled = rules(drill.drill_rules(drill.ALERTS, tmp_path / "drill.yml", drill.DRILL_FOR))
    waits = {rule[key] for rule in drilled for key in ("for", "keep_firing_for") if key in rule}
    ranges = {found for rule in drilled for found in re.findall(r"\[\w+\]", rule["expr"])}
    assert (
        [rule["alert"] for rule in drilled] == [rule["alert"] for rule in rules(drill.ALERTS)],
        waits,
        ranges,
    ) == (True, {f"{drill.DRILL_FOR}s"}, {f"[{drill.DRILL_WINDOW}s]"})


# When each event of a drill that passes was seen, in seconds after the surge began.
GOOD_SURGE = {
    "pending": 2.0,
    "firing": 12.0,
    "critical": 14.0,
    "paged": 15.0,
    "degraded": 16.0,
    "banner": 17.0,
}


def a_drill(**changes: Any) -> drill.DrillResult:
    """What a drill that passes saw, but for `changes`."""
    result = drill.DrillResult(
        for_seconds=drill.DRILL_FOR,
        surge=GOOD_SURGE,
        after={"resolved": 30.0, "cleared": 40.0, "gone": 41.0},
        statuses={200: 60, 503: 40},
        without_retry_after=0,
        share_503=0.4,
        capacity=100.0,
        also_fired=set(),
        screenshots=[],
    )
    return dataclasses.replace(result, **changes)


def never(event: str) -> dict[str, float]:
    return {name: at for name, at in GOOD_SURGE.items() if name != event}


def test_a_drill_within_every_bound_passes() -> None:
    assert drill.verdict(a_drill()) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"without_retry_after": 3}, "3 503s without Retry-After"),
        ({"statuses": {200: 99, 503: 1}, "share_503": 0.01}, "503 share 1% under 5%"),
        ({"statuses": {200: 49, 503: 900}, "share_503": 0.95}, "served 49 of the 100"),
        ({"statuses": {200: 60, 503: 39, 500: 1}}, "answers other than 200 and 503"),
        ({"surge": never("critical")}, f"never saw {drill.CRITICAL} firing"),
        ({"surge": never("paged")}, f"never saw {drill.CRITICAL} reach on-call's critical"),
    ],
)
def test_the_verdict_fails_a_drill_that_left_shoppers_or_on_call_uninformed(
    changes: dict[str, Any], problem: str
) -> None:
    assert any(problem in found for found in drill.verdict(a_drill(**changes)))
