"""The helpers every tool shares: stopping children, stopping once, a throwaway database."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devtools.databases import ScratchDatabase, scratch_database
from devtools.localdb import scratch_workdir
from devtools.processes import Shutdown, stop_once_on_signals, stop_process

# A child that says when its SIGTERM handler is in place, then waits.
CHILD = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.{handler})
print("ready", flush=True)
time.sleep(60)
"""


def child(handler: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(handler=handler)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    return process


@pytest.mark.slow
def test_a_child_that_stops_when_asked_is_not_killed() -> None:
    assert stop_process(child("SIG_DFL"), timeout=30) == -signal.SIGTERM


@pytest.mark.slow
def test_a_child_that_ignores_the_request_is_killed_after_the_timeout() -> None:
    assert stop_process(child("SIG_IGN"), timeout=0.5) == -signal.SIGKILL


@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.usefixtures("handlers")
def test_the_first_signal_stops_the_tool_and_later_ones_cannot_interrupt_its_cleanup() -> None:
    announced: list[str] = []
    stop_once_on_signals(announced.append)

    with pytest.raises(Shutdown):
        signal.raise_signal(signal.SIGTERM)
    signal.raise_signal(signal.SIGINT)  # a second Ctrl-C while stopping: ignored

    assert announced == ["SIGTERM"]


class ToolFailed(Exception):
    pass


@pytest.mark.slow
def test_a_scratch_database_is_migrated_and_removed_even_when_its_user_fails() -> None:
    used: list[ScratchDatabase] = []
    tables: list[tuple[str] | None] = []

    def tool(root: Path) -> None:
        with scratch_database(root) as database, psycopg.connect(database.url) as conn:
            used.append(database)
            tables.append(conn.execute("SELECT to_regclass('catalog_widget')::text").fetchone())
            raise ToolFailed

    with scratch_workdir("widgetworld-scratch-") as workdir:
        with pytest.raises(ToolFailed):
            tool(workdir / "postgres")
        [cluster] = [database.cluster for database in used]

        assert (tables, cluster.is_running(), cluster.root.exists()) == (
            [("catalog_widget",)],
            False,
            False,
        )
