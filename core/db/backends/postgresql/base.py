"""`ENGINE: core.db.backends.postgresql`: Django's PostgreSQL backend, pooled for a fleet.

Everything Django's backend does stays as it is (transactions, savepoints,
`on_commit`, `select_for_update`, server-side cursors, session settings); what
changes is where connections come from and how long a request keeps one:

- an `AdaptivePool` per alias and process (`pool.py`), within the fleet's
  share of the server and a learned limit, opened lazily after fork;
- outside `atomic()`, the connection goes back to the pool as soon as a
  query's results are read (`cursor.py`), unless a server-side cursor or
  session state (SET, advisory locks, LISTEN, temp tables) needs it to stay;
  to Django the connection stays open meanwhile (`Released`);
- each checkout says how urgent it is (`priority.py`): a request's first
  query, a later one, or code marked urgent (checkout);
- every connection carries `application_name = <fleet>/<host>/<pid>` (`<host>`
  is `OPTIONS["host_name"]` or the machine's name), `statement_timeout` and
  `idle_in_transaction_session_timeout`.

OPTIONS are read live from `settings_dict`, as Django reads them, and parsed
again only when they change. Pooling is on by default;
`OPTIONS={"pool": False}` gives Django's plain backend. Where this differs
from Django's own pooled backend on purpose, docs/data-layer.md says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_started
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base
from django.db.backends.signals import connection_created
from django.db.utils import DatabaseErrorWrapper
from django.utils.functional import cached_property
from psycopg import IsolationLevel
from psycopg import sql as pgsql
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
from core.db.backends.postgresql.errors import ConnectionUnavailable
from core.db.backends.postgresql.features import DatabaseFeatures
from core.db.backends.postgresql.options import (
    DEFAULT_CONNECT_TIMEOUT,
    HOST_NAME_KEY,
    SESSION_KEYS,
    OptionsCache,
    PoolOptions,
    host_name,
    session_options,
)
from core.db.backends.postgresql.pool import AdaptivePool
from core.db.backends.postgresql.priority import Priority, is_urgent
from core.db.backends.postgresql.replication import WalWatch
from core.db.backends.postgresql.stats import PoolStats, ServerStats
from core.db.backends.postgresql.upstream import owner

logger = logging.getLogger("core.db.pool")

DEFAULT_FLEET = "widgetworld"

CursorT = TypeVar("CursorT", bound=ReleasingCursorMixin)
# A settings_dict without OPTIONS (a wrapper built by hand) reads as this.
NO_OPTIONS: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """What this backend reads from OPTIONS, parsed (`options.py`)."""

    pool: PoolOptions | None
    session: dict[str, int]
    fleet: str
    host_name: str  # "" for the machine's own name

    @classmethod
    def parse(cls, options: dict[str, Any], alias: str) -> BackendOptions:
        return cls(
            pool=PoolOptions.from_options(options, alias),
            session=session_options(options, alias),
            fleet=options.get("application_name") or DEFAULT_FLEET,
            host_name=host_name(options, alias),
        )


class _ErrorWrapper(DatabaseErrorWrapper):
    """Django's error wrapper, letting "no connection" errors through as they are.

    They are psycopg_pool errors too (`errors.py`), which Django would turn
    into a plain OperationalError: the 503 middleware could no longer tell
    "busy" from "down". Every other error that left the connection dead is
    dated on the wrapper first (`DatabaseWrapper.connection_lost_at`).
    """

    wrapper: DatabaseWrapper

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None and issubclass(exc_type, ConnectionUnavailable):
            return
        if exc_type is not None:
            self.wrapper.note_if_lost()
        super().__exit__(exc_type, exc_value, traceback)


class Released:
    """`DatabaseWrapper.connection` between queries, once the connection went back to the pool.

    Django (and code written for it) reads `connection.connection is None` as
    "not connected": connecting again would rerun Django's connect sequence,
    and whatever wraps it, on every query. So between queries the connection
    stays, to Django, open: `self.connection` is this stand-in, and the first
    use of any attribute (a cursor, autocommit, `info`, ...) borrows a
    connection from the pool again, as a pooled checkout does in Django's own
    pool (`connection_created` included). It went back idle and in
    autocommit, so there is nothing to commit or roll back.
    """

    __slots__ = ("_db",)
    closed = False
    autocommit = True

    def __init__(self, db: DatabaseWrapper) -> None:
        object.__setattr__(self, "_db", db)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db.borrow_again(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._db.borrow_again(), name, value)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<Released connection of {self._db.alias!r}: borrowed again on use>"


if TYPE_CHECKING:

    class _DjangoWrapper(base.DatabaseWrapper):
        """Django's private methods this backend extends; django-stubs leaves them out."""

        def _configure_connection(self, connection: Any) -> None: ...
        def _set_autocommit(self, autocommit: bool) -> None: ...
        def _close(self) -> None: ...
        def _cursor(self, name: str | None = None) -> Any: ...

else:
    _DjangoWrapper = base.DatabaseWrapper


class DatabaseWrapper(_DjangoWrapper):
    features_class = DatabaseFeatures

    def __init__(self, settings_dict: dict[str, Any], alias: str = DEFAULT_DB_ALIAS) -> None:
        super().__init__(settings_dict, alias)
        self._options = OptionsCache(lambda raw: BackendOptions.parse(raw, self.alias))
        # A bad value fails here, at construction, as well as when it changes.
        self.backend_options  # noqa: B018
        # Why this connection must stay with its borrower between queries:
        # open server-side cursors, `pinned()` blocks, connection setup...
        self._pins = 0
        # ...and session state (SET, advisory locks, ...) until it is returned.
        self._session_state = False
        # Cursors made on the connection now: when it goes back, they keep their
        # rows. Held only until then (a list is cheaper than a WeakSet here).
        self._cursors: list[ReleasingCursorMixin] = []
        # Has this request had a connection yet? (its priority, priority.py)
        self._served = False
        self._released = Released(self)
        # When a connection last died under this wrapper (time.monotonic()),
        # kept after Django has dropped it: inside atomic() the way out closes
        # the dead connection and connects again, and whoever asks "did the
        # server fail under me?" would find nothing dead left to see.
        self.connection_lost_at: float | None = None

    # -- options, read live from settings_dict as Django does -------------------

    @property
    def backend_options(self) -> BackendOptions:
        return self._options.get(self.settings_dict.get("OPTIONS", NO_OPTIONS))

    @property
    def pool_options(self) -> PoolOptions | None:
        return self.backend_options.pool

    @property
    def fleet(self) -> str:
        return self.backend_options.fleet

    # -- the pool ------------------------------------------------------------

    @property
    def pool(self) -> AdaptivePool | None:
        options = self.pool_options
        if options is None or self.alias == NO_DB_ALIAS:
            return None
        return registry.get(self.alias, options, self._create_pool)

    def _create_pool(self) -> AdaptivePool:
        if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
            # Django's own wording, so its documentation applies as it is.
            raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
        options = self.pool_options
        assert options is not None
        kwargs = self._connection_params()
        # Django turns autocommit off itself when a transaction starts.
        kwargs["autocommit"] = True
        return AdaptivePool(
            alias=self.alias,
            options=options,
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

    @property
    def breaker_open(self) -> bool:
        """True while the database is known to be down (docs/data-layer.md, "Breaker").

        Then every checkout raises `DatabaseUnavailable` at once, without
        waiting; it turns False as soon as the pool's probe connects again.
        """
        pool = self.pool
        return pool is not None and pool.breaker.is_open

    def wal_watch(self) -> WalWatch | None:
        """Where this server stands in the WAL stream (`replication.py`); None if not watched.

        Watched with `OPTIONS["pool"]["track_wal"]`: the pool's monitor reads
        it every tick. The first call opens the pool, as a first query would,
        so that the watching starts; for a database router, which must know
        where a replica stands before sending it a query.
        """
        pool = self.pool
        if pool is None or pool.wal is None:
            return None
        pool.open()
        return pool.wal

    # -- connecting ------------------------------------------------------------

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

    def _cursor(self, name: str | None = None) -> Any:
        # Between ensure_connection() and the cursor Django creates next, the
        # connection stays: code wrapping ensure_connection may query.
        self._pins += 1
        try:
            return super()._cursor(name)
        finally:
            self._pins -= 1

    def get_connection_params(self) -> dict[str, Any]:
        pool = self.pool
        if pool is not None:
            # Pooled, Django ignores them (the pool has its own): computed once
            # per pool, that is per process and alias, with application_name.
            return pool.connect_kwargs
        return self._connection_params()

    def _connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        for key in (*SESSION_KEYS, HOST_NAME_KEY):
            params.pop(key, None)
        params.setdefault("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
        backend = self.backend_options
        params["application_name"] = application_name(self.fleet, host=backend.host_name)
        # Startup options, not SET: they survive DISCARD ALL and RESET ALL.
        startup = " ".join(f"-c {key}={value}" for key, value in backend.session.items())
        if startup:
            params["options"] = " ".join(filter(None, [params.get("options"), startup]))
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        pool = self.pool
        if pool is None:
            return super().get_new_connection(conn_params)
        return self._checkout(pool)

    def _checkout(self, pool: AdaptivePool) -> Any:
        """Django's steps for a pooled connection, with the request's priority."""
        isolation_level = self.settings_dict["OPTIONS"].get("isolation_level")
        if isolation_level is None:
            self.isolation_level = IsolationLevel.READ_COMMITTED
        else:
            try:
                self.isolation_level = IsolationLevel(isolation_level)
            except ValueError:
                raise ImproperlyConfigured(
                    f"Invalid transaction isolation level {isolation_level} "
                    f"specified. Use one of the psycopg.IsolationLevel values."
                ) from None
        pool.open()
        connection = pool.getconn(priority=self._priority())
        if isolation_level is not None:
            connection.isolation_level = self.isolation_level
        self._served = True
        return connection

    def borrow_again(self) -> Any:
        """A connection from the pool in place of `Released` (see there)."""
        if self.connection is not self._released:
            return self.connection
        pool = self.pool
        if pool is None:  # OPTIONS["pool"] turned off meanwhile
            self.connection = None
            self.connect()
            return self.connection
        self._pins += 1
        try:
            self.connection = self._checkout(pool)
            connection_created.send(sender=self.__class__, connection=self)
        finally:
            self._pins -= 1
        return self.connection

    def _priority(self) -> Priority:
        if is_urgent():
            return Priority.URGENT
        return Priority.CONTINUING if self._served else Priority.NEW

    def _configure_role(self, connection: Any) -> bool:
        # Django composes the statement through the wrapper's own connection
        # (ops.compose_sql), which for a pool's new connection means checking
        # one out of the pool being filled: a deadlock. Composed on the
        # connection being configured instead, with the same result.
        if new_role := self.settings_dict["OPTIONS"].get("assume_role"):
            connection.execute(pgsql.SQL("SET ROLE {}").format(pgsql.Literal(new_role)))
            return True
        return False

    @cached_property
    def wrap_database_errors(self) -> DatabaseErrorWrapper:
        return _ErrorWrapper(self)

    def _set_autocommit(self, autocommit: bool) -> None:
        # connect() sets autocommit on every checkout; a pooled connection
        # already has it, and psycopg's setter costs a lock and a generator.
        if self.connection.autocommit != autocommit:
            super()._set_autocommit(autocommit)

    # -- cursors and releasing between queries -------------------------------

    def create_cursor(self, name: str | None = None) -> Any:
        # psycopg's cursors keep the connection they are given: never the stand-in.
        self.borrow_again()
        return super().create_cursor(name)

    def make_cursor(self, cursor: Any) -> ReleasingCursorWrapper:
        return self.track(ReleasingCursorWrapper(cursor, self))

    def make_debug_cursor(self, cursor: Any) -> ReleasingCursorDebugWrapper:
        return self.track(ReleasingCursorDebugWrapper(cursor, self))

    def track(self, wrapper: CursorT) -> CursorT:
        if getattr(wrapper.cursor, "name", None):
            # A server-side cursor lives on its connection until it is closed.
            self._pins += 1
            wrapper.pinning = True
        self._cursors.append(wrapper)
        return wrapper

    def unpin(self) -> None:
        self._pins = max(0, self._pins - 1)
        if pool := self._releasable():
            self._give_back(pool)

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

    def query_finished(self, sql: Any, seconds: float) -> None:
        """After every execute(): time it, note session state, give the connection back if free."""
        conn = self.connection
        if conn is not None and conn is not self._released and (pool := owner(conn)):
            pool.record_query(seconds)
        if isinstance(sql, str) and SESSION_STATE.search(sql):
            self._session_state = True
        if pool := self._releasable():
            self._give_back(pool)

    def note_if_lost(self) -> None:
        """After an error: date it if the connection died (the server went away under it)."""
        conn = self.connection
        # getattr: whatever stands in for a connection, the error being raised must stay the one.
        if not isinstance(conn, Released) and getattr(conn, "closed", False):
            self.connection_lost_at = time.monotonic()

    def recover_lost_connection(self, sql: Any) -> bool:
        """After an OperationalError: if the connection is dead, drop it at once.

        True when the failed statement may simply run again on a fresh
        connection: a SELECT outside any transaction, with no session state
        that died with the old one. Anything else is raised as Django would.
        """
        conn = self.connection
        if conn is None or isinstance(conn, Released) or not conn.closed or self.in_atomic_block:
            return False
        pool = owner(conn)
        if pool is None:
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
        self._give_back(pool)
        return retry

    def _give_back(self, pool: AdaptivePool) -> None:
        """Return the connection between queries; every open cursor keeps its rows."""
        self._detach_cursors()
        connection, self.connection = self.connection, self._released
        # To the pool it came from: settings changes replace pools.
        with self.wrap_database_errors:
            pool.putconn(connection)

    def _detach_cursors(self) -> None:
        with self.wrap_database_errors:
            for wrapper in self._cursors:
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

    def _releasable(self) -> AdaptivePool | None:
        """The pool to give the connection back to now, or None if it must stay."""
        conn = self.connection
        if (
            conn is None
            or conn is self._released
            or self._pins
            or self._session_state
            or self.in_atomic_block
            or not self.autocommit
            or conn.pgconn.transaction_status != TransactionStatus.IDLE
        ):
            return None
        pool = owner(conn)
        return pool if pool is not None and pool.options.release else None

    def _close(self) -> None:
        conn = self.connection
        pool = owner(conn) if conn is not None and not isinstance(conn, Released) else None
        if pool is not None:
            if self._session_state or self._pins:
                self._reset_session()
            self._give_back(pool)
        self._session_state = False
        self._pins = 0
        if pool is None and not isinstance(conn, Released):
            return super()._close()
        # As Django's own pooled backend: closed means None, even when called
        # directly rather than through close().
        self.connection = None
        return None

    def is_usable(self) -> bool:
        if not isinstance(self.connection, Released):
            return bool(super().is_usable())
        # Check on a borrowed connection, then give it back as a query would.
        try:
            usable = bool(super().is_usable())
        except ConnectionUnavailable:
            # Django asks at the start and end of a request after an error
            # (close_old_connections, outside any view): with the database
            # down, "not usable" and a clean close, not an error escaping to
            # the WSGI server as a 500.
            return False
        if pool := self._releasable():
            self._give_back(pool)
        return usable

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
            if not isinstance(wrapper.connection, Released):
                registry.keep_inherited(wrapper.connection)
            wrapper.connection = None


def _new_request(**kwargs: Any) -> None:
    """A request starts: its first checkout is a new one (priority.py)."""
    for wrapper in connections.all(initialized_only=True):
        if isinstance(wrapper, DatabaseWrapper):
            wrapper._served = False


os.register_at_fork(after_in_child=_forget_inherited_connections)
request_started.connect(_new_request, dispatch_uid="core.db.backends.postgresql.new_request")
