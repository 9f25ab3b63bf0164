"""Why a request got no connection: the pool was busy, or the database was gone.

They are different incidents with different fixes, so they are different
types. All are `django.db.OperationalError`, which is what Django's own pool
raises for a checkout timeout, so code that already handles database failures
keeps working. The busy ones are also psycopg_pool's `PoolTimeout` and
`TooManyRequests`, so code and tests written for Django's native pool
(`OPTIONS["pool"] = True`) catch them as they are; `DatabaseUnavailable` is
neither, so "busy" is never mistaken for "down" or the reverse.

Django's error wrapper would turn a psycopg error into a plain
`OperationalError`; the backend lets these through unchanged
(`base.DatabaseWrapper.wrap_database_errors`) so that the 503 middleware can
tell them apart.
"""

import psycopg_pool
from django.db import OperationalError


class ConnectionUnavailable(OperationalError):
    """No connection for this request right now; a retry in a moment may succeed."""

    #: Seconds a client should wait before retrying (the `Retry-After` header).
    retry_after: int = 2


class PoolTimeout(ConnectionUnavailable, psycopg_pool.PoolTimeout):
    """Every connection this process may hold stayed busy for the whole checkout timeout."""


class PoolRejected(ConnectionUnavailable, psycopg_pool.TooManyRequests):
    """Turned away at once: too many requests were already waiting for a connection."""


class LoadShed(PoolRejected):
    """Turned away after a short wait: a standing queue had formed (the deadline queue)."""


class DatabaseUnavailable(ConnectionUnavailable):
    """The server cannot be reached (down, restarting, or refusing connections).

    While the pool's breaker is open this is raised at checkout without waiting.
    """

    retry_after = 5
