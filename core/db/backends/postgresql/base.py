"""`ENGINE: core.db.backends.postgresql`: Django's PostgreSQL backend, pooled for a fleet.

Everything Django's backend does stays as it is (transactions, savepoints,
`on_commit`, `select_for_update`, server-side cursors, session settings); what
changes is where connections come from and how long a request keeps one:

- an `AdaptivePool` per alias and process (`pool.py`), sized to demand and to
  the fleet's share of the server (`budget.py`), opened lazily after fork;
- outside `atomic()`, the connection goes back to the pool as soon as a
  query's results are read (`cursor.py`), unless a server-side cursor or
  session state (SET, advisory locks, LISTEN, temp tables) needs it to stay;
- every connection carries `application_name = <fleet>/<host>/<pid>` (`<host>`
  is `OPTIONS["host_name"]` or the machine's name), `statement_timeout` and
  `idle_in_transaction_session_timeout`.

Pooling is on by default; `OPTIONS={"pool": False}` gives Django's plain backend.
"""

from __future__ import annotations

import contextlib
import logging
import os
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus

from core.db.backends.postgresql import registry
from core.db.backends.postgresql.budget import application_name
from core.db.backends.postgresql.cursor import (
    SESSION_STATE,
    DetachedResult,
    ReleasingCursorDebugWrapper,
    ReleasingCursorMixin,
    ReleasingCursorWrapper,
)
from core.db.backends.postgresql.features import DatabaseFeatures
from core.db.backends.postgresql.options import (
    HOST_NAME_KEY,
    SESSION_KEYS,
    PoolOptions,
    host_name,
    session_options,
)
from core.db.backends.postgresql.pool import AdaptivePool
from core.db.backends.postgresql.stats import PoolStats, ServerStats

logger = logging.getLogger("core.db.pool")

DEFAULT_FLEET = "widgetworld"

CursorT = TypeVar("CursorT", bound=ReleasingCursorMixin)


if TYPE_CHECKING:

    class _DjangoWrapper(base.DatabaseWrapper):
        """Django's private methods this backend extends; django-stubs leaves them out."""

        def _configure_connection(self, connection: Any) -> None: ...
        def _set_autocommit(self, autocommit: bool) -> None: ...
        def _close(self) -> None: ...

else:
    _DjangoWrapper = base.DatabaseWrapper


class DatabaseWrapper(_DjangoWrapper):
    features_class = DatabaseFeatures

    def __init__(self, settings_dict: dict[str, Any], alias: str = DEFAULT_DB_ALIAS) -> None:
        super().__init__(settings_dict, alias)
        options = settings_dict.get("OPTIONS", {})
        self.pool_options = PoolOptions.from_options(options, alias)
        self._session_settings = session_options(options, alias)
        self.fleet: str = options.get("application_name") or DEFAULT_FLEET
        self.host_name = host_name(options, alias)
        # Why this connection must stay with its borrower between queries:
        # open server-side cursors and `pinned()` blocks...
        self._pins = 0
        # ...and session state (SET, advisory locks, ...) until it is returned.
        self._session_state = False
        # Cursors on the connection now: when it goes back, they keep their rows.
        self._cursors: weakref.WeakSet[ReleasingCursorMixin] = weakref.WeakSet()

    # -- the pool ------------------------------------------------------------

    @property
    def pool(self) -> AdaptivePool | None:
        if self.pool_options is None or self.alias == NO_DB_ALIAS:
            return None
        return registry.get(self.alias, self._create_pool)

    def _create_pool(self) -> AdaptivePool:
        if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
            # Django's own wording, so its documentation applies as it is.
            raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
        assert self.pool_options is not None
        kwargs = self.get_connection_params()
        # Django turns autocommit off itself when a transaction starts.
        kwargs["autocommit"] = True
        kwargs.pop("pool", None)
        return AdaptivePool(
            alias=self.alias,
            options=self.pool_options,
            connect_kwargs=kwargs,
            configure=self._configure_connection,
            # On top of the pool's own checks, which cost no round trip.
            round_trip_check=self.settings_dict["CONN_HEALTH_CHECKS"],
            fleet=self.fleet,
            application_name=kwargs["application_name"],
        )

    def close_pool(self) -> None:
        registry.close(self.alias)

    def pool_stats(self) -> PoolStats | None:
        """A snapshot of this process's pool for this alias; None when not pooled."""
        pool = self.pool
        return pool.stats() if pool is not None else None

    def server_stats(self, max_age: float = 5.0) -> ServerStats | None:
        """The server's connection slots, at most `max_age` seconds old; None if unknown."""
        pool = self.pool
        return pool.server_stats(max_age) if pool is not None else None

    def connect(self) -> None:
        """Borrow a connection, keeping it until connect() is done.

        `connection_created` receivers may query and then use the connection
        itself (django.contrib.postgres registers hstore/citext this way):
        releasing it after their query would leave them holding None.
        """
        self._pins += 1
        try:
            super().connect()
        finally:
            self._pins -= 1

    def _set_autocommit(self, autocommit: bool) -> None:
        # connect() sets autocommit on every checkout; a pooled connection
        # already has it, and psycopg's setter costs a lock and a generator.
        if self.connection.autocommit != autocommit:
            super()._set_autocommit(autocommit)

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        for key in (*SESSION_KEYS, HOST_NAME_KEY):
            params.pop(key, None)
        params["application_name"] = application_name(self.fleet, host=self.host_name)
        # Startup options, not SET: they survive DISCARD ALL and RESET ALL.
        startup = " ".join(f"-c {key}={value}" for key, value in self._session_settings.items())
        if startup:
            params["options"] = " ".join(filter(None, [params.get("options"), startup]))
        return params

    # -- cursors and releasing between queries -------------------------------

    def make_cursor(self, cursor: Any) -> ReleasingCursorWrapper:
        return self.track(ReleasingCursorWrapper(cursor, self))

    def make_debug_cursor(self, cursor: Any) -> ReleasingCursorDebugWrapper:
        return self.track(ReleasingCursorDebugWrapper(cursor, self))

    def track(self, wrapper: CursorT) -> CursorT:
        if getattr(wrapper.cursor, "name", None):
            # A server-side cursor lives on its connection until it is closed.
            self._pins += 1
            wrapper.pinning = True
        self._cursors.add(wrapper)
        return wrapper

    def unpin(self) -> None:
        self._pins = max(0, self._pins - 1)
        if self._releasable():
            self._give_back()

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Keep the same connection for a block of queries outside a transaction.

        For session features the automatic detection cannot see (say, SQL
        built in a function); the connection is reset before reuse.
        """
        self._pins += 1
        try:
            yield
        finally:
            self._pins -= 1
            self._session_state = True

    def query_finished(self, sql: Any) -> None:
        """After every execute(): note session state, and give the connection back if free."""
        if isinstance(sql, str) and SESSION_STATE.search(sql):
            self._session_state = True
        if self._releasable():
            self._give_back()

    def recover_lost_connection(self, sql: Any) -> bool:
        """After an OperationalError: if the connection is dead, drop it at once.

        True when the failed statement may simply run again on a fresh
        connection: a SELECT outside any transaction, with no session state
        that died with the old one. Anything else is raised as Django would.
        """
        conn = self.connection
        pool = self.pool
        if conn is None or pool is None or not conn.closed or self.in_atomic_block:
            return False
        retry = (
            not self._session_state
            and not self._pins
            and isinstance(sql, str)
            and sql.lstrip()[:6].upper() == "SELECT"
        )
        pool.record_lost("the connection died under a query")
        self._session_state = False
        self._pins = 0
        self._give_back()
        return retry

    def _give_back(self) -> None:
        """Return the connection between queries; every open cursor keeps its rows."""
        self._detach_cursors()
        connection, self.connection = self.connection, None
        # To the pool it came from: settings changes in tests replace pools.
        with self.wrap_database_errors:
            if connection._pool is None:
                connection.close()
            else:
                connection._pool.putconn(connection)

    def _detach_cursors(self) -> None:
        with self.wrap_database_errors:
            for wrapper in list(self._cursors):
                if isinstance(wrapper.cursor, DetachedResult):
                    continue
                if wrapper.pinning:
                    # Only when the request ends with a server-side cursor still
                    # open: it cannot outlive its connection, and reading all
                    # of it now could be huge. Reading it later raises.
                    wrapper.pinning = False
                    wrapper.cursor.close()
                wrapper.cursor = DetachedResult(wrapper.cursor)
        self._cursors.clear()

    def _releasable(self) -> bool:
        return (
            self.connection is not None
            and self.pool_options is not None
            and self.pool_options.release
            and not self.in_atomic_block
            and self.autocommit
            and not self._pins
            and not self._session_state
            and self.connection.pgconn.transaction_status == TransactionStatus.IDLE
            and self.alias != NO_DB_ALIAS
        )

    def _close(self) -> None:
        if (
            self.connection is not None
            and self.pool is not None
            and (self._session_state or self._pins)
        ):
            self._reset_session()
        self._session_state = False
        self._pins = 0
        if self.connection is not None:
            self._detach_cursors()
        return super()._close()

    def _reset_session(self) -> None:
        """Wipe session state so the next borrower gets a clean connection."""
        conn = self.connection
        if conn.closed:
            return
        if conn.pgconn.transaction_status != TransactionStatus.IDLE:
            conn.close()  # psycopg_pool replaces it
            return
        try:
            conn.autocommit = True
            conn.execute("DISCARD ALL")
            self._configure_connection(conn)
        except psycopg.Error:
            conn.close()


def _forget_inherited_connections() -> None:
    """In a forked child: drop (without closing) connections the parent was using."""
    for wrapper in connections.all(initialized_only=True):
        if isinstance(wrapper, DatabaseWrapper) and wrapper.connection is not None:
            registry.keep_inherited(wrapper.connection)
            wrapper.connection = None


os.register_at_fork(after_in_child=_forget_inherited_connections)
