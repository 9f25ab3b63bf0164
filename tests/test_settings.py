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
        if k not in PRODUCTION and not k.startswith(("WIDGETWORLD_", "CACHE_"))
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


def test_the_cache_waits_a_few_milliseconds_at_most_by_default() -> None:
    show = "from django.conf import settings; print(settings.CACHES['default']['OPTIONS'])"

    result = manage("shell", "-v", "0", "-c", show, **PRODUCTION)

    assert "'socket_connect_timeout': 0.005, 'socket_timeout': 0.005" in result.stdout, (
        result.stderr
    )


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("redis://cache:6379/0", "django.core.cache.backends.redis.RedisCache"),
        ("rediss://cache:6380/1", "django.core.cache.backends.redis.RedisCache"),
        ("dummy://", "django.core.cache.backends.dummy.DummyCache"),
    ],
)
def test_cache_url_chooses_the_backend(url: str, backend: str) -> None:
    show = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"

    result = manage("shell", "-v", "0", "-c", show, **{**PRODUCTION, "CACHE_URL": url})

    assert result.stdout.strip() == backend, result.stderr


def test_a_cache_other_than_redis_or_valkey_is_refused() -> None:
    result = manage("check", **{**PRODUCTION, "CACHE_URL": "memcached://cache:11211"})

    assert "expected redis://, rediss:// or unix://" in result.stderr


def test_unknown_environment_name_is_refused() -> None:
    result = manage("check", **{**PRODUCTION, "WIDGETWORLD_ENV": "staging"})

    assert "expected production, local or test" in result.stderr


def test_a_host_name_with_a_slash_is_refused() -> None:
    result = manage("check", **{**PRODUCTION, "WIDGETWORLD_HOST_NAME": "rack/7"})

    assert "WIDGETWORLD_HOST_NAME='rack/7': a name without '/'" in result.stderr


def test_persistent_connections_are_refused_while_the_pool_keeps_its_own() -> None:
    result = manage("check", **{**PRODUCTION, "WIDGETWORLD_DB_CONN_MAX_AGE": "60"})

    assert "only with WIDGETWORLD_DB_POOL=false" in result.stderr


def test_behind_pgbouncer_threads_keep_connections_and_no_cursor_outlives_a_statement() -> None:
    result = manage(
        "shell",
        "-c",
        "from django.db import connection as c; "
        "print(c.settings_dict['CONN_MAX_AGE'], c.settings_dict['DISABLE_SERVER_SIDE_CURSORS'])",
        **PRODUCTION,
        WIDGETWORLD_DB_POOL="false",
        WIDGETWORLD_DB_CONN_MAX_AGE="60",
        WIDGETWORLD_DB_SERVER_SIDE_CURSORS="false",
    )

    assert result.stdout.splitlines()[-1].split() == ["60", "True"], result.stderr
