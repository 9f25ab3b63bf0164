"""Why a request got no connection: the pool was busy, or the database was gone.

They are different incidents with different fixes, so they are different
types. Neither is a psycopg error, so Django's error wrapper passes them
through unchanged; both are `django.db.DatabaseError`, so code that already
handles database failures keeps working.
"""

from django.db import DatabaseError


class ConnectionUnavailable(DatabaseError):
    """No connection for this request right now; a retry in a moment may succeed."""

    #: Seconds a client should wait before retrying (the `Retry-After` header).
    retry_after: int = 2


class PoolTimeout(ConnectionUnavailable):
    """Every connection this process may hold stayed busy for the whole checkout timeout."""


class PoolRejected(ConnectionUnavailable):
    """Turned away at once: too many requests were already waiting for a connection."""


class DatabaseUnavailable(ConnectionUnavailable):
    """The server cannot be reached (down, restarting, or refusing connections)."""

    retry_after = 5
