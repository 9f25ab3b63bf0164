"""Settings come from the environment and are safe to deploy as they default."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "WIDGETWORLD_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "shop.example.com",
    "DATABASE_URL": "postgres://widgetworld:secret@db.example.com:5432/widgetworld",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in PRODUCTION and not k.startswith("WIDGETWORLD_")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_deploy_checks_pass_with_production_values() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [("SECRET_KEY", "SECRET_KEY is not set"), ("ALLOWED_HOSTS", "ALLOWED_HOSTS is not set")],
)
def test_production_refuses_to_start_without(missing: str, message: str) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != missing}

    result = manage("check", **env)

    assert message in result.stderr


def test_a_database_other_than_postgresql_is_refused() -> None:
    result = manage("check", **{**PRODUCTION, "DATABASE_URL": "sqlite:///shop.db"})

    assert "DATABASE_URL must be a postgres:// URL" in result.stderr


def test_chaos_endpoints_are_refused_in_production() -> None:
    result = manage("check", **{**PRODUCTION, "WIDGETWORLD_CHAOS_ENDPOINTS": "true"})

    assert "WIDGETWORLD_CHAOS_ENDPOINTS is refused in production" in result.stderr


def test_unknown_environment_name_is_refused() -> None:
    result = manage("check", **{**PRODUCTION, "WIDGETWORLD_ENV": "staging"})

    assert "expected production, local or test" in result.stderr
