"""The database wrapper Django loads for `ENGINE: core.db.backends.postgresql`."""

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL backend; the pooling it adds lands in its own modules."""
