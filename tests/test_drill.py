"""`make drill` as a test: a real Prometheus sees a saturated pool, pages, then resolves.

About a minute: it starts PostgreSQL, gunicorn and Prometheus (see devtools/drill.py).
"""

from __future__ import annotations

import shutil

import pytest

from core.db.backends.postgresql.base import DatabaseWrapper
from devtools import drill
from devtools.localdb import scratch_dir
from tests.tools import require

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    not hasattr(DatabaseWrapper, "pool_stats"),
    reason="needs the data layer's pool (pool_stats()), which has not landed on this branch",
)
def test_the_saturation_alert_fires_in_time_and_resolves() -> None:
    require("prometheus")
    workdir = scratch_dir("widgetworld-drill-")
    try:
        result = drill.run(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    assert drill.verdict(result) == [], result.table()
