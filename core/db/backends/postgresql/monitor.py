"""The pool's monitor thread: everything periodic, so request threads only check out and return.

Twice a second (four times while the breaker is open, and at once when it
opens):

- the breaker's probe while the database is down (`breaker.py`);
- the server's place in the WAL stream, when watched (`replication.py`);
- the budget, when due or asked for, and the fleet count (`sizing.py`);
- leaks and connections left by threads that ended (`borrows.py`);
- spare connections, idle longer than `max_idle`, closed down to `min_size`;
- the event log's summaries (`events.py`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from core.db.backends.postgresql.breaker import PROBE_INTERVAL

if TYPE_CHECKING:
    from core.db.backends.postgresql.pool import AdaptivePool

logger = logging.getLogger("core.db.pool")

TICK = 0.5


class Monitor:
    def __init__(self, pool: AdaptivePool) -> None:
        self._pool = pool
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"pool-monitor-{pool.alias}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        self._pool.breaker.wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        pool = self._pool
        wake = pool.breaker.wake
        while not self._stopping.is_set():
            wake.wait(PROBE_INTERVAL if pool.breaker.is_open else TICK)
            wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.tick(time.monotonic())
            except Exception:
                # The monitor must outlive any surprise, or the ceiling would freeze.
                logger.exception("pool %s: monitor round failed", pool.alias)

    def tick(self, now: float) -> None:
        pool = self._pool
        if pool.breaker.is_open and not pool.health.probe():
            return  # nothing else can be done without a database
        pool.read_wal_position()
        sizing = pool.sizing
        if sizing.due(now):
            sizing.refresh()
        sizing.check_fleet(now)
        for orphan in pool.borrows.watch(now):
            logger.warning(
                "pool %s: thread %s ended holding a connection; returning it",
                pool.alias,
                orphan.thread.name,
            )
            pool.putconn(orphan.conn)
        pool.close_spare(now)
        pool.events.flush()
