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
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from django.db import OperationalError
from django.db.backends import utils
from django.db.backends.postgresql.base import CursorDebugWrapper

if TYPE_CHECKING:
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
    """The results of a finished `execute()`, readable after its connection went back."""

    arraysize = 1

    def __init__(self, cursor: Any) -> None:
        self._sets: list[tuple[Any, int, str | None, list[Row]]] = []
        self.closed = cursor.closed
        if not self.closed:
            while True:
                description = cursor.description
                rows = cursor.fetchall() if description is not None else []
                self._sets.append((description, cursor.rowcount, cursor.statusmessage, rows))
                if not cursor.nextset():
                    break
            cursor.close()
        self._current = 0
        self._position = 0

    def _set(self) -> tuple[Any, int, str | None, list[Row]]:
        if self.closed:
            raise psycopg.InterfaceError("the cursor is closed")
        return self._sets[self._current]

    @property
    def description(self) -> Any:
        return self._set()[0]

    @property
    def rowcount(self) -> int:
        return self._set()[1]

    @property
    def statusmessage(self) -> str | None:
        return self._set()[2]

    def fetchone(self) -> Row | None:
        rows = self._set()[3]
        if self._position >= len(rows):
            return None
        self._position += 1
        return rows[self._position - 1]

    def fetchmany(self, size: int = 0) -> list[Row]:
        rows = self._set()[3]
        chunk = rows[self._position : self._position + (size or self.arraysize)]
        self._position += len(chunk)
        return chunk

    def fetchall(self) -> list[Row]:
        rows = self._set()[3]
        rest = rows[self._position :]
        self._position = len(rows)
        return rest

    def nextset(self) -> bool | None:
        self._set()
        if self._current + 1 >= len(self._sets):
            return None
        self._current += 1
        self._position = 0
        return True

    def __iter__(self) -> Iterator[Row]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        self.closed = True


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

    def execute(self, sql: str, params: Any = None) -> Any:
        return self._run(super().execute, sql, params)  # type: ignore[misc]

    def executemany(self, sql: str, param_list: Sequence[Any]) -> Any:
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

    def _run(self, method: Any, sql: str, params: Any) -> Any:
        self._attach()
        raw = self.cursor
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
                result = method(sql, params)
        finally:
            self.db.query_finished(sql)
        # psycopg returns the cursor itself; after a release, that is the copy.
        return self.cursor if result is raw else result


class ReleasingCursorWrapper(ReleasingCursorMixin, utils.CursorWrapper):
    pass


class ReleasingCursorDebugWrapper(ReleasingCursorMixin, CursorDebugWrapper):
    pass
