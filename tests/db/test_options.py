"""Pool settings: sensible defaults, and one clear message for a bad value at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.db.backends.postgresql.options import PoolOptions

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
