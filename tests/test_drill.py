"""`make drill` as a test: a real Prometheus sees a saturated pool, pages, then resolves.

About a minute: it starts PostgreSQL, gunicorn and Prometheus (see devtools/drill.py).
"""

from __future__ import annotations

import pytest

from devtools import drill
from devtools.localdb import scratch_workdir
from tests.tools import require

pytestmark = pytest.mark.slow


def test_the_saturation_alert_fires_in_time_and_resolves() -> None:
    require("prometheus")
    with scratch_workdir("widgetworld-drill-") as workdir:
        result = drill.run(workdir)

    assert drill.verdict(result) == [], result.table()
