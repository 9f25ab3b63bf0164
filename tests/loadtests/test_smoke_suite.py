"""`make loadtest` as CI runs it: the smoke suite end to end, once.

About 70 s: PostgreSQL, migrations, 3,000 widgets, gunicorn with the
production configuration, a minute of Locust headless, the gates judged.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.gates import GROUPS, read_csv

pytestmark = pytest.mark.slow

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    reports = tmp_path_factory.mktemp("reports") / "smoke"
    # Latency gates judge the code as it runs in production, not slowed down by
    # `make test`'s coverage tracing (which subprocesses inherit through this variable).
    untraced = {k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.run", "--suite", "smoke", "--reports", str(reports)],
        cwd=BASE_DIR,
        env=untraced,
        capture_output=True,
        text=True,
        timeout=280,
    )
    return result, reports


def test_the_smoke_suite_passes_its_gates(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, reports = smoke
    failed = [v.line() for v in read_csv(reports / "locust_gates.csv") if not v.passed]

    assert (result.returncode, failed) == (0, []), result.stdout[-3000:] + result.stderr[-3000:]


def test_the_run_leaves_its_reports(smoke: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, reports = smoke
    expected = {"report.html", "locust_stats.csv", "locust_failures.csv", "locust_gates.csv"}

    assert expected <= {path.name for path in reports.iterdir()}


def test_every_request_is_named_after_an_endpoint_group_and_every_group_was_exercised(
    smoke: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, reports = smoke
    with (reports / "locust_stats.csv").open(newline="") as stats:
        names = {row["Name"] for row in csv.DictReader(stats) if row["Name"] != "Aggregated"}

    assert names == set(GROUPS)
