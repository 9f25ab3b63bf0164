"""The database setups the benchmarks compare, as Django `DATABASES` entries.

Each is derived from WidgetWorld's own entry (same server, same database,
same credentials), so that only the connection handling differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.db.backends.postgresql.options import OWN_KEYS

DJANGO_ENGINE = "django.db.backends.postgresql"


@dataclass(frozen=True)
class Setup:
    name: str
    label: str
    description: str


SETUPS = {
    setup.name: setup
    for setup in [
        Setup(
            "2023",
            "2023 (static pool of 2, 30 s wait)",
            "Django's pool fixed at 2 connections per process with a 30 s wait: the "
            "incident's conservative limits.",
        ),
        Setup(
            "django-default",
            "Django default (CONN_MAX_AGE=0)",
            "Django's plain backend: a new connection for every request.",
        ),
        Setup(
            "django-pool",
            "Django native pool (defaults)",
            "Django's `OPTIONS['pool'] = True`: psycopg_pool with 4 connections per "
            "process and a 30 s wait.",
        ),
        Setup("widgetworld", "WidgetWorld", "`core.db.backends.postgresql` with its defaults."),
        Setup(
            "pgbouncer",
            "PgBouncer (transaction mode)",
            "Django's plain backend with persistent connections to a PgBouncer in "
            "transaction mode, whose pool is sized to the server's budget.",
        ),
        Setup(
            "widgetworld-fixed",
            "WidgetWorld, no learned limit",
            "WidgetWorld with `adaptive` off: the pool may use its whole budget share "
            "whenever requests wait (the previous release), to show what the learned "
            "limit changes.",
        ),
        Setup(
            "widgetworld-cache",
            "WidgetWorld with cache",
            "WidgetWorld with the shared cache on (catalog pages rendered once per catalog "
            "change, `manage.py warm_cache` run before the load). Every other setup runs with "
            "`CACHE_URL=dummy://`, so that the connection strategies are compared like for like.",
        ),
        Setup(
            "widgetworld-cache-50ms",
            "WidgetWorld with cache, 50 ms cache timeouts",
            "The same with `CACHE_CONNECT_TIMEOUT_MS` and `CACHE_TIMEOUT_MS` at 50 instead of "
            "5. Here the cache server shares two saturated cores with wrk, the app and "
            "PostgreSQL, and can miss 5 ms, which a cache server on a host of its own would "
            "not: then the workers' cache breakers open and pages render uncached. Shown to "
            "tell what the cache buys from what this machine costs; the targets are judged on "
            "the setup above, with production's timeouts.",
        ),
        Setup(
            "widgetworld-hold",
            "WidgetWorld, holding for the request",
            "WidgetWorld with `release` off: a connection is held from the first query to "
            "the end of the request, as Django's own pool does.",
        ),
        Setup(
            "persistent",
            "Persistent connection",
            "Django's plain backend with `CONN_MAX_AGE=None`: one connection per thread, "
            "never returned (the reference for overhead).",
        ),
    ]
}


# The setups that use the shared cache, with what they change in the environment; the
# others cache nothing (CACHE_URL=dummy://).
CACHED: dict[str, dict[str, str]] = {
    "widgetworld-cache": {},
    "widgetworld-cache-50ms": {"CACHE_CONNECT_TIMEOUT_MS": "50", "CACHE_TIMEOUT_MS": "50"},
}


def cache_environment(setup: str, cache_url: str) -> dict[str, str]:
    """What `setup`'s processes get for the cache: the server and its knobs, or nothing cached."""
    if setup not in CACHED:
        return {"CACHE_URL": "dummy://"}
    return {"CACHE_URL": cache_url, **CACHED[setup]}


def database(setup: str, base: dict[str, Any], *, pgbouncer_port: int = 0) -> dict[str, Any]:
    """WidgetWorld's `DATABASES["default"]` turned into `setup`."""
    if setup == "widgetworld" or setup in CACHED:
        return base
    if setup in ("widgetworld-hold", "widgetworld-fixed"):
        change = {"release": False} if setup == "widgetworld-hold" else {"adaptive": False}
        pool = {**base["OPTIONS"]["pool"], **change}
        return {**base, "OPTIONS": {**base["OPTIONS"], "pool": pool}}
    # Django's backend knows neither our pool options nor our session keys.
    options = {k: v for k, v in base["OPTIONS"].items() if k not in OWN_KEYS}
    django = {**base, "ENGINE": DJANGO_ENGINE, "OPTIONS": options, "CONN_MAX_AGE": 0}
    if setup == "django-default":
        return django
    if setup == "persistent":
        return {**django, "CONN_MAX_AGE": None}
    if setup == "django-pool":
        return {**django, "OPTIONS": {**options, "pool": True}}
    if setup == "2023":
        return {**django, "OPTIONS": {**options, "pool": {"min_size": 2, "max_size": 2}}}
    if setup == "pgbouncer":
        return {
            **django,
            "PORT": str(pgbouncer_port),
            "CONN_MAX_AGE": None,
            # Transaction pooling cannot keep a server-side cursor between statements.
            "DISABLE_SERVER_SIDE_CURSORS": True,
        }
    raise ValueError(f"unknown setup {setup!r}: one of {', '.join(SETUPS)}")
