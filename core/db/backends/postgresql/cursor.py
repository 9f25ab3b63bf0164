"""Cursors that give the connection back as soon as a query's results are in.

psycopg's client-side cursors receive the whole result when `execute()`
returns; after that the server connection has nothing more to do for this
query. Outside a transaction, WidgetWorld reads the rows into memory, hands
the connection back to the pool, and lets Django fetch from the copy, so
template rendering and slow clients never hold a connection. The next
`execute()` on the same cursor takes a connection again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from django.db import OperationalError
from django.db.backends import utils
from django.db.backends.postgresql.base import CursorDebugWrapper
from psycopg.pq import ExecStatus

if TYPE_CHECKING:
    from django.db.backends.utils import _ExecuteParameters, _ExecuteQuery

    from core.db.backends.postgresql.base import DatabaseWrapper

# SQL that leaves state in the session rather than the transaction. After one
# of these the connection stays with its borrower until the request ends, and
# is reset (DISCARD ALL) before anyone else gets it.
SESSION_STATE = re.compile(
    r"""^\s*(?:
        SET\s+(?!LOCAL\b|TRANSACTION\b|CONSTRAINTS\b)
      | RESET\b | LISTEN\b | PREPARE\b | DECLARE\b | LOAD\b
      | CREATE\s+(?:GLOBAL\s+|LOCAL\s+)?TEMP(?:ORARY)?\b
    )
    | \bpg_(?:try_)?advisory_lock(?:_shared)?\s*\(
    | \bset_config\s*\(
    """,
    re.IGNORECASE | re.VERBOSE,
)

Row = tuple[Any, ...]


class DetachedResult:
    """The results of a finished `execute()`, readable after its connection went back.

    psycopg's client-side cursor receives the whole result (a libpq PGresult,
    which belongs to the cursor, not the connection) before `execute()`
    returns, and prepares its row loaders then. Turning that result into
    Python rows, and describing its columns, reads nothing more from the
    connection, so it happens here on demand, after the connection is back
    in the pool: under a busy GIL, converting rows while holding the
    connection would hold it for as long as the thread waits its turn.
    """

    arraysize = 1

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.closed = cursor.closed
        self._rows: list[Row] | None = None
        self._position = 0

    @property
    def _loaded(self) -> list[Row]:
        if self._rows is None:
            self._rows = self._read(self._open())
        return self._rows

    @staticmethod
    def _read(cursor: Any) -> list[Row]:
        result = cursor.pgresult
        if result is None or result.status != ExecStatus.TUPLES_OK:
            return []
        return list(cursor.fetchall())

    def _open(self) -> Any:
        if self.closed:
            raise psycopg.InterfaceError("the cursor is closed")
        return self._cursor

    @property
    def description(self) -> Any:
        return self._open().description

    @property
    def rowcount(self) -> int:
        return int(self._open().rowcount)

    @property
    def statusmessage(self) -> str | None:
        return self._open().statusmessage

    def fetchone(self) -> Row | None:
        rows = self._loaded
        if self._position >= len(rows):
            return None
        self._position += 1
        return rows[self._position - 1]

    def fetchmany(self, size: int = 0) -> list[Row]:
        rows = self._loaded
        chunk = rows[self._position : self._position + (size or self.arraysize)]
        self._position += len(chunk)
        return chunk

    def fetchall(self) -> list[Row]:
        rows = self._loaded
        rest = rows[self._position :]
        self._position = len(rows)
        return rest

    def nextset(self) -> bool | None:
        if not self._open().nextset():
            return None
        self._rows = None
        self._position = 0
        return True

    def __iter__(self) -> Iterator[Row]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        self.closed = True
        self._cursor.close()


class ReleasingCursorMixin:
    """Execute on a connection from the pool, then give it back if nothing needs it."""

    cursor: Any
    db: DatabaseWrapper
    # True for a server-side cursor, which keeps its connection until closed.
    pinning = False

    def close(self) -> None:
        if self.pinning:
            self.pinning = False
            self.db.unpin()
        self.cursor.close()

    def execute(self, sql: _ExecuteQuery, params: _ExecuteParameters | None = None) -> Any:
        return self._run(super().execute, sql, params)  # type: ignore[misc]

    def executemany(self, sql: _ExecuteQuery, param_list: Sequence[_ExecuteParameters]) -> Any:
        return self._run(super().executemany, sql, param_list)  # type: ignore[misc]

    def copy(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        """COPY streams on the connection: it stays until the next query or the request ends."""
        self._attach()
        parent = getattr(super(), "copy", None)
        return (parent or self.cursor.copy)(statement, *args, **kwargs)

    def _attach(self) -> None:
        if isinstance(self.cursor, DetachedResult):
            # The connection went back after an earlier query: take one again.
            self.db.ensure_connection()
            self.cursor = self.db.create_cursor()
            self.db.track(self)

    def _run(self, method: Any, sql: _ExecuteQuery, params: Any) -> Any:
        self._attach()
        raw = self.cursor
        started = time.perf_counter()
        try:
            try:
                result = method(sql, params)
            except OperationalError:
                if not self.db.recover_lost_connection(sql):
                    raise
                # The connection died before this read ran (a restart, a
                # terminated backend): once more, on a live one.
                self._attach()
                raw = self.cursor
                started = time.perf_counter()
                result = method(sql, params)
        finally:
            self.db.query_finished(sql, time.perf_counter() - started)
        # psycopg returns the cursor itself; after a release, that is the copy.
        return self.cursor if result is raw else result


class ReleasingCursorWrapper(ReleasingCursorMixin, utils.CursorWrapper):
    pass


class ReleasingCursorDebugWrapper(ReleasingCursorMixin, CursorDebugWrapper):
    pass
