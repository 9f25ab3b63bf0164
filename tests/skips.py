"""Skips: counted with their reasons at the end of the run; in CI, none is allowed.

A plugin of its own (`pytest_plugins` in tests/conftest.py), not part of
tests/conftest.py, so that tests/test_skips.py can run it in a pytest of its
own without the suite's servers.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """Say how many tests skipped and why, after every other summary, where nobody misses it."""
    yield
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    terminalreporter.section(f"{len(skipped)} skipped", sep="-", yellow=True)
    for reason, count in Counter(_skip_reason(report) for report in skipped).most_common():
        terminalreporter.line(f"{count:4d} x {reason}")
    if os.environ.get("CI"):
        terminalreporter.line("CI is set: a skip fails the run", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skip never turns CI green: every documented reason to skip is one CI cannot have."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("CI") and reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
