"""Pool settings: sensible defaults, and one clear message for a bad value at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.db.backends.postgresql.budget import compute_share
from core.db.backends.postgresql.options import PoolOptions
from core.db.backends.postgresql.stats import ServerStats

BASE_DIR = Path(__file__).resolve().parents[2]


def test_pooling_is_on_by_default() -> None:
    assert PoolOptions.from_options({}) == PoolOptions()


def test_pool_false_gives_djangos_plain_backend() -> None:
    assert PoolOptions.from_options({"pool": False}) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_size": 5, "max_size": 2}, "min_size (5) is greater than max_size (2)"),
        ({"timeout": -1}, "timeout must be positive"),
        ({"max_waiting": -3}, "max_waiting must not be negative"),
        ({"timeout": "soon"}, "timeout must be a number"),
        ({"max_size": 2.5}, "max_size must be a whole number"),
        ({"release": "yes"}, "release must be true or false"),
        ({"maxsize": 3}, "unknown option(s) maxsize"),
    ],
)
def test_a_bad_option_is_refused_with_its_name(options: dict[str, object], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        PoolOptions.from_mapping(options)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"WIDGETWORLD_DB_POOL_MIN": "5", "WIDGETWORLD_DB_POOL_MAX": "2"},
            "min_size (5) is greater",
        ),
        ({"WIDGETWORLD_DB_POOL_TIMEOUT": "-1"}, "timeout must be positive"),
    ],
)
def test_a_misconfigured_pool_fails_at_start_with_one_message(
    env: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )

    last_line = result.stderr.strip().splitlines()[-1]
    assert (result.returncode, message in last_line) == (1, True)


def server(max_connections: int, **connections: int) -> ServerStats:
    return ServerStats(
        max_connections=max_connections,
        reserved=3,
        connections={(app.replace("_", "/"), "idle"): n for app, n in connections.items()},
    )


def share_of(stats: ServerStats, **limits: int) -> int:
    options = {"headroom": 4, "min_size": 1, "max_size": 100, "threads": None, **limits}
    return compute_share(stats, fleet="ww", me="ww/h/1", **options).ceiling  # type: ignore[arg-type]


def test_one_process_may_use_the_whole_budget() -> None:
    assert share_of(server(40)) == 40 - 3 - 4


def test_clients_that_are_not_ours_come_off_the_budget() -> None:
    assert share_of(server(40, psql=5)) == 40 - 3 - 4 - 5


def test_more_processes_mean_smaller_shares() -> None:
    three = server(40, ww_h_1=2, ww_h_2=2, ww_h_3=2)
    six = server(40, ww_h_1=2, ww_h_2=2, ww_h_3=2, ww_h_4=1, ww_h_5=1, ww_h_6=1)

    assert (share_of(three), share_of(six)) == (11, 5)


def test_the_ceiling_never_drops_below_the_minimum() -> None:
    crowded = server(10, **{f"ww_h_{n}": 1 for n in range(1, 20)})

    assert share_of(crowded, min_size=2) == 2
