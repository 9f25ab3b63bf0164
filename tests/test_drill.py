"""`make drill` as a test: a surge pages, shoppers are told, and everything resolves by itself.

About two minutes: it starts PostgreSQL, a cache server, gunicorn, Alertmanager,
Prometheus and Chromium (see devtools/drill.py). The screenshots stay in
test-artifacts/drill/ for a human to look at.
"""

from __future__ import annotations

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
