"""Where a server stands in the WAL stream: a primary's write position, a standby's replay.

With `OPTIONS["pool"]["track_wal"] = True` the pool's monitor thread reads it
every tick (0.5 s) on an idle connection, never on a request's thread, so a
database router can tell how far behind a replica is, and whether it has
replayed a given write, without a query of its own:

- a **standby** reports `pg_last_wal_replay_lsn()`, what it received
  (`pg_last_wal_receive_lsn()`), whether replay is paused, and its own idea of
  its lag: nothing when it has replayed all it received, otherwise the age of
  the last transaction it replayed (`pg_last_xact_replay_timestamp()`);
- a **primary** reports `pg_current_wal_lsn()`, and the watch keeps when each
  new position was first seen (`WalWatch.passed`): "the primary was past LSN
  X at time T". A replica that has replayed only up to X is at least
  now - T behind, even when it cannot know it (cut off from the primary, it
  has replayed all it received and thinks it is current).

LSNs are kept as integers (`pg_lsn` `'16/B374D848'` is 0x16_B374D848), so
comparing them is comparing numbers.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

logger = logging.getLogger("core.db.pool")

POSITION_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
            ELSE pg_current_wal_lsn() END::text,
       pg_last_wal_receive_lsn()::text,
       extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END
"""
# How long the primary's positions are remembered: a replica further behind
# than this is "at least this far behind", which is far past any threshold.
HISTORY_SECONDS = 600.0
HISTORY_LENGTH = 4096


def parse_lsn(text: str) -> int:
    """`'16/B374D848'` -> 0x16B374D848."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


@dataclass(frozen=True, slots=True)
class WalPosition:
    """One reading of a server's place in the WAL stream."""

    standby: bool  # pg_is_in_recovery()
    lsn: int  # a primary's pg_current_wal_lsn(), a standby's pg_last_wal_replay_lsn()
    received: int | None  # a standby's pg_last_wal_receive_lsn() (None: not streaming)
    # Seconds since the last transaction a standby replayed committed on the primary.
    replay_age: float | None
    paused: bool  # a standby whose replay was paused (pg_wal_replay_pause())
    sampled_at: float  # time.monotonic()

    @property
    def own_lag(self) -> float:
        """The standby's own estimate of its lag: 0 once it has replayed all it received.

        It cannot see WAL it has not received: cut off from its primary, it
        says 0. `WalWatch.passed` on the primary's watch covers that case.
        """
        if not self.standby or self.received is None or self.received <= self.lsn:
            return 0.0
        return max(0.0, self.replay_age or 0.0)


def read_position(conn: psycopg.Connection[Any], now: float) -> WalPosition:
    row = conn.execute(POSITION_SQL).fetchone()
    assert row is not None
    standby, lsn, received, replay_age, paused = row
    return WalPosition(
        standby=bool(standby),
        # NULL only on a standby that has replayed nothing yet since it started.
        lsn=parse_lsn(lsn) if lsn else 0,
        received=parse_lsn(received) if received else None,
        replay_age=replay_age,
        paused=bool(paused),
        sampled_at=now,
    )


class WalWatch:
    """The latest position of one server and, for a primary, when each new one was first seen."""

    def __init__(
        self,
        alias: str,
        connect_kwargs: Mapping[str, Any],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.alias = alias
        # For the first reading, before the pool has a connection to spare.
        self._connect_kwargs = {**connect_kwargs, "connect_timeout": 3, "autocommit": True}
        self._clock = clock
        self._lock = threading.Lock()
        self.latest: WalPosition | None = None
        # When each new position was first seen: both lists increase.
        self._times: list[float] = []
        self._lsns: list[int] = []

    def first_reading(self) -> None:
        """Read the position on a connection of its own: when the pool opens, not a tick later."""
        try:
            with psycopg.connect(**self._connect_kwargs) as conn:
                self.record(read_position(conn, self._clock()))
        except psycopg.Error as error:
            logger.debug("pool %s: cannot read the WAL position: %s", self.alias, error)

    def read(self, conn: psycopg.Connection[Any]) -> None:
        """Read the position on `conn` (a pool connection the monitor borrowed)."""
        self.record(read_position(conn, self._clock()))

    def record(self, position: WalPosition) -> None:
        with self._lock:
            self.latest = position
            if position.standby:
                return  # only a primary's positions say how far behind others are
            if not self._lsns or position.lsn > self._lsns[-1]:
                self._times.append(position.sampled_at)
                self._lsns.append(position.lsn)
            # Forget what is older than the horizon, keeping the oldest as "at least".
            old = bisect.bisect_left(self._times, position.sampled_at - HISTORY_SECONDS)
            old = max(old - 1, len(self._lsns) - HISTORY_LENGTH)
            if old > 0:
                del self._times[:old], self._lsns[:old]

    def passed(self, lsn: int) -> float | None:
        """When this server was first seen past `lsn` (time.monotonic()); None if it is not.

        Before the oldest position remembered, the oldest one's time: "at
        least that long ago".
        """
        with self._lock:
            index = bisect.bisect_right(self._lsns, lsn)
            return self._times[index] if index < len(self._lsns) else None

    def age(self) -> float:
        """Seconds since the last reading; infinite before the first."""
        latest = self.latest
        return self._clock() - latest.sampled_at if latest else float("inf")
