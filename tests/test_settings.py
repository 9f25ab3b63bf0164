"""Settings come from the environment and are safe to deploy as they default."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "WIDGETWORLD_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "shop.example.com",
    "DATABASE_URL": "postgres://widgetworld:secret@db.example.com:5432/widgetworld",
}


def manage_environment() -> dict[str, str]:
    """The test process's environment without anything that configures WidgetWorld."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in PRODUCTION and not k.startswith(("WIDGETWORLD_", "CACHE_", "DATABASE_REPLICA_"))
    }


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**manage_environment(), **env},
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


UNSAFE = {
    "debug": ({"DEBUG": "true"}, "DEBUG is on"),
    "any host": ({"ALLOWED_HOSTS": "shop.example.com,*"}, "ALLOWED_HOSTS contains '*'"),
    "short secret": ({"SECRET_KEY": secrets.token_urlsafe(30)}, "SECRET_KEY is too short"),
    "placeholder secret": (
        {"SECRET_KEY": "changeme-" + secrets.token_urlsafe(50)},
        "SECRET_KEY is too short or a placeholder",
    ),
    "django's insecure secret": (
        {"SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(50)},
        "SECRET_KEY is too short or a placeholder",
    ),
    "chaos endpoints": (
        {"WIDGETWORLD_CHAOS_ENDPOINTS": "true"},
        "WIDGETWORLD_CHAOS_ENDPOINTS is refused in production",
    ),
}


@pytest.mark.parametrize(("unsafe", "message"), UNSAFE.values(), ids=UNSAFE.keys())
def test_production_refuses_to_start_unsafe_in_one_line(
    unsafe: dict[str, str], message: str
) -> None:
    result = manage("check", **{**PRODUCTION, **unsafe})
    [line] = result.stderr.strip().splitlines()

    assert (
        result.returncode,
        line.startswith("widgetworld: configuration error: "),
        message in line,
    ) == (1, True, True)


def test_gunicorn_refuses_to_start_unsafe_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "widgetworld/gunicorn.conf.py", "--check-config"],
        cwd=BASE_DIR,
        env={**manage_environment(), **PRODUCTION, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (result.returncode, result.stderr.strip().splitlines()) == (
        1,
        [
            "widgetworld: configuration error: "
            "DEBUG is on: production never shows Django's debug pages"
        ],
    )


def test_chaos_endpoints_are_refused_outside_tests() -> None:
    result = manage(
        "check",
        **{
            **PRODUCTION,
            "WIDGETWORLD_ENV": "local",
            "DEBUG": "false",
            "WIDGETWORLD_CHAOS_ENDPOINTS": "true",
        },
    )

    assert "WIDGETWORLD_CHAOS_ENDPOINTS is refused in local" in result.stderr


def test_the_cache_waits_a_few_milliseconds_at_most_by_default() -> None:
    show = "from django.conf import settings; print(settings.CACHES['default']['OPTIONS'])"

    result = manage("shell", "-v", "0", "-c", show, **PRODUCTION)

    assert "'socket_connect_timeout': 0.005, 'socket_timeout': 0.005" in result.stdout, (
        result.stderr
    )


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("redis://cache:6379/0", "core.cache.backends.RedisCache"),
        ("rediss://cache:6380/1", "core.cache.backends.RedisCache"),
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


def _with_database_password(code: str) -> tuple[str, str]:
    password = "db-" + secrets.token_hex(8)
    url = f"postgres://widgetworld:{password}@db.example.com:5432/widgetworld"
    result = manage("shell", "-c", code, **{**PRODUCTION, "DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    return password, result.stdout


def test_only_databases_keeps_the_database_password() -> None:
    password, shown = _with_database_password(
        "from django.conf import settings;"
        "print([(n, getattr(settings, n)) for n in dir(settings)"
        " if n.isupper() and n != 'DATABASES'])"
    )

    assert password not in shown


def test_error_reports_mask_the_database_url_in_the_environment() -> None:
    password, shown = _with_database_password(
        "import os; from django.views.debug import get_exception_reporter_filter as f;"
        "r = f(None); print(r.get_safe_settings(),"
        " r.cleanse_setting('DATABASE_URL', os.environ['DATABASE_URL']))"
    )

    assert password not in shown


# -- read replicas ------------------------------------------------------------------------

SHOW_DATABASES = (
    "import json; from django.conf import settings as s; print(json.dumps(["
    "{a: [d['ENGINE'], d['HOST'], d['OPTIONS']['pool']] for a, d in s.DATABASES.items()},"
    "s.DATABASE_ROUTERS,"
    "'core.http.routing.ReplicaRoutingMiddleware' in s.MIDDLEWARE]))"
)
REPLICAS = (
    "postgres://widgetworld:secret@replica-a:5432/widgetworld,"
    "postgres://widgetworld:secret@replica-b/widgetworld"
)


def databases(**env: str) -> tuple[dict[str, list[Any]], list[str], bool]:
    """Each alias's engine, host and pool options; the routers; the routing middleware or not."""
    result = manage("shell", "-v", "0", "-c", SHOW_DATABASES, **PRODUCTION, **env)
    assert result.returncode == 0, result.stderr
    aliases, routers, middleware = json.loads(result.stdout)
    return aliases, routers, middleware


def test_without_replicas_nothing_changes() -> None:
    aliases, routers, middleware = databases()

    assert (list(aliases), routers, middleware) == (["default"], [], False)


def test_each_replica_gets_an_alias_on_our_backend_with_a_pool_of_its_own() -> None:
    aliases, routers, middleware = databases(DATABASE_REPLICA_URLS=REPLICAS)

    assert (aliases, routers, middleware) == (
        {
            alias: ["core.db.backends.postgresql", host, {"threads": 8, "track_wal": True}]
            for alias, host in [
                ("default", "db.example.com"),
                ("replica1", "replica-a"),
                ("replica2", "replica-b"),
            ]
        },
        ["core.db.routing.router.ReplicaRouter"],
        True,
    )


def test_with_the_pool_switched_off_every_read_stays_on_the_primary() -> None:
    _, routers, middleware = databases(DATABASE_REPLICA_URLS=REPLICAS, WIDGETWORLD_DB_POOL="false")

    assert (routers, middleware) == ([], False)


def test_a_replica_that_is_not_postgresql_is_refused() -> None:
    result = manage("check", **PRODUCTION, DATABASE_REPLICA_URLS="mysql://replica/shop")

    assert "replica1 must be a postgres:// URL" in result.stderr


def test_read_your_writes_must_outlast_the_lag_threshold() -> None:
    result = manage(
        "check",
        **PRODUCTION,
        DATABASE_REPLICA_MAX_LAG="10",
        DATABASE_REPLICA_READ_YOUR_WRITES="5",
    )

    assert "read_your_writes (5 s) must be longer than max_lag (10 s)" in result.stderr


def test_only_databases_keeps_the_replicas_passwords() -> None:
    password = "replica-" + secrets.token_hex(8)
    url = f"postgres://widgetworld:{password}@replica-a:5432/widgetworld"
    result = manage(
        "shell",
        "-c",
        "import os; from django.conf import settings;"
        "from django.views.debug import get_exception_reporter_filter as f;"
        "print([(n, getattr(settings, n)) for n in dir(settings)"
        " if n.isupper() and n != 'DATABASES'],"
        " f(None).cleanse_setting('DATABASE_REPLICA_URLS', os.environ['DATABASE_REPLICA_URLS']))",
        **PRODUCTION,
        DATABASE_REPLICA_URLS=url,
    )

    assert (result.returncode, password in result.stdout) == (0, False), result.stderr
