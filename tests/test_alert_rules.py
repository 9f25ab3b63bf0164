"""The alert rules are valid and each one fires on its incident, and only then (promtool)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.tools import require

PROMETHEUS_DIR = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
# alerts.test.yml, and alerts-daily.test.yml for the windows a day long.
ALERT_TESTS = sorted(path.name for path in (PROMETHEUS_DIR / "tests").glob("*.test.yml"))


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require("promtool"), *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_rules_are_valid() -> None:
    result = promtool("check", "rules", "alerts.yml")

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_on_its_incident_and_stays_quiet_when_healthy() -> None:
    result = promtool("test", "rules", *(f"tests/{name}" for name in ALERT_TESTS))

    assert result.returncode == 0, result.stdout + result.stderr
