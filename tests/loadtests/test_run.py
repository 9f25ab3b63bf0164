"""`python -m loadtests.run`: what it accepts, and that Ctrl-C leaves nothing running."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from loadtests.run import INTERRUPTED, LoadTestError, locust_command, target_url
from loadtests.suites import SUITES

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("given", "host"),
    [
        ("https://staging.example.com", "https://staging.example.com"),
        ("https://staging.example.com/", "https://staging.example.com"),
        ("http://10.0.0.5:8000", "http://10.0.0.5:8000"),
    ],
)
def test_target_url_becomes_locusts_host(given: str, host: str) -> None:
    assert target_url(given) == host


@pytest.mark.parametrize(
    "given", ["staging.example.com", "ftp://staging.example.com", "https://example.com/shop/"]
)
def test_a_target_that_is_not_a_sites_root_is_refused(given: str) -> None:
    with pytest.raises(LoadTestError, match="TARGET_URL"):
        target_url(given)


def test_locust_runs_headless_with_the_suite_and_writes_both_reports(tmp_path: Path) -> None:
    command = " ".join(locust_command(SUITES["spike"], "http://127.0.0.1:8000", tmp_path))

    assert all(
        part in command
        for part in ("--headless", "--suite spike", f"--csv {tmp_path}/locust", "--html")
    )


@pytest.mark.slow
def test_ctrl_c_stops_everything_it_started(tmp_path: Path) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-m", "loadtests.run", "--suite", "baseline", "--reports", str(tmp_path)],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert runner.stdout is not None
    workdir = ""
    lines = []
    deadline = time.monotonic() + 120
    for line in runner.stdout:
        lines.append(line)
        if match := re.search(r"PostgreSQL .* in (\S+)", line):
            workdir = match.group(1)
        if "Ramping to" in line or time.monotonic() > deadline:
            break
    started = psutil.Process(runner.pid).children(recursive=True)
    runner.send_signal(signal.SIGINT)
    rest, _ = runner.communicate(timeout=90)
    _, alive = psutil.wait_procs(started, timeout=5)
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if workdir in " ".join(p.info["cmdline"] or [])
    ]

    assert (runner.returncode, alive, bool(workdir), leftovers, Path(workdir).exists()) == (
        INTERRUPTED,
        [],
        True,
        [],
        False,
    ), "".join(lines) + rest
