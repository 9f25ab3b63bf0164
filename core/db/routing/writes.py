"""Read-your-writes: notice a request's writes, and where the primary's WAL stood after them.

During a routed request an execute wrapper on the primary's connection
(Django's documented hook) notes the first statement that is not a read; the
middleware then asks the primary for `pg_current_wal_insert_lsn()` and gives
it to the writer as a token. Every write of the request is in the WAL before
that position, so a replica that has replayed up to it shows all of them.

The insert position rather than `pg_current_wal_lsn()` (the write position):
with `synchronous_commit = off` the write position can still be before the
commit just made, and a replica that had replayed up to it would not show
the order. (At the very start of a WAL page the insert position points past
the page header, which no replay reaches until more WAL is written: the
writer then reads from the primary until the token expires. Rare, and safe.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, connections

from core.db.backends.postgresql.replication import parse_lsn
from core.db.routing.config import routing_config
from core.db.routing.scope import current_route

logger = logging.getLogger("core.db.routing")

# Statements that change nothing another session could read afterwards.
READ_ONLY = re.compile(
    r"^\s*(?:SELECT|SHOW|EXPLAIN|VALUES|FETCH|MOVE|CLOSE|DECLARE|SET|RESET|DISCARD"
    r"|SAVEPOINT|RELEASE|ROLLBACK|BEGIN|START|COMMIT|END)\b",
    re.IGNORECASE,
)


def is_write(sql: Any) -> bool:
    # Composed SQL (psycopg.sql) is not inspected: counted as a write, which
    # at worst sends the writer's next reads to the primary.
    return not (isinstance(sql, str) and READ_ONLY.match(sql))


def watch_writes(
    execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """The execute wrapper on the primary: marks the request as having written."""
    result = execute(sql, params, many, context)
    route = current_route()
    if route is not None and not route.wrote and is_write(sql):
        route.wrote = True
    return result


def written_lsn(alias: str) -> int | None:
    """The primary's WAL insert position now; None if the primary cannot say."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
            row = cursor.fetchone()
    except DatabaseError as error:
        # No token: the writer may read from a replica that has not replayed
        # the write yet, rather than fail the page that follows it.
        logger.warning("cannot read the primary's WAL position after a write: %s", error)
        return None
    return parse_lsn(row[0]) if row else None


def replayed_lsn(alias: str) -> int | None:
    """How far the replica `alias` has replayed, asked now; None if it cannot say.

    For the moment its pool's last reading (up to 0.5 s old) is behind a
    write that recent: the replica has usually replayed it by then.
    """
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn()::text")
            row = cursor.fetchone()
    except DatabaseError as error:
        logger.info("cannot read replica %s's replay position: %s", alias, error)
        return None
    return parse_lsn(row[0]) if row and row[0] else None


def primary_position() -> int | None:
    """The primary's WAL insert position now, for writes recorded outside a request's token.

    The page cache labels each catalog version with it (`router.replayed`).
    None without replicas (no query: there is nothing to wait for) and when
    the primary cannot say.
    """
    config = routing_config()
    return written_lsn(config.primary) if config.replicas else None
