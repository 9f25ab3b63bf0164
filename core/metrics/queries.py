"""django-prometheus's query metrics, for a backend that is not one of its wrappers.

django-prometheus counts queries by swapping the database ENGINE for its own
subclass; ours is `core.db.backends.postgresql`, so we feed the same metrics
(`django_db_execute_total`, `django_db_query_duration_seconds`, ...) from
Django's documented hook instead: an execute wrapper installed on each
database wrapper when it first connects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django_prometheus.db import errors_total, execute_many_total, execute_total
from django_prometheus.db import query_duration_seconds as query_duration


def count_query(
    execute: Callable[..., Any],
    sql: str,
    params: Any,
    many: bool,
    context: dict[str, Any],
) -> Any:
    db: BaseDatabaseWrapper = context["connection"]
    labels = (db.alias, db.vendor)
    statements = len(params) if many and params is not None else 1
    execute_total.labels(*labels).inc(statements)
    if many:
        execute_many_total.labels(*labels).inc(statements)
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    except Exception as error:
        errors_total.labels(*labels, type(error).__name__).inc()
        raise
    finally:
        query_duration.labels(*labels).observe(time.perf_counter() - started)


def install(connection: BaseDatabaseWrapper) -> None:
    """Idempotent: `connection_created` fires on every (pooled) connect of the same wrapper."""
    if count_query not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, count_query)
