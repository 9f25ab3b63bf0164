"""A small thread per worker that copies pool and server snapshots into gauges.

Custom collectors do not work in prometheus_client's multiprocess mode (the
scrape is answered by whichever worker gets it, from files), so each worker
writes its own pool's gauges: every second, and at once after a pool event.
The server's view (pg_stat_activity) is the same for every worker, so only
one worker samples it, every few seconds: the one holding an flock on a file
in the metrics directory. When it dies the kernel drops the lock and another
worker takes over at its next try.

The thread starts lazily, on a worker's first request, so it never runs in
the gunicorn master, which only reads the files when it is scraped
(core/metrics/exporter.py). Without gunicorn (tests, management commands)
there is no thread and no scrape: tests call `sample()` themselves.

Other parts of the app can have the thread refresh their own gauges with
`every()`: health registers readiness, so the "not ready" alert has data even
where no orchestrator probes `/readyz`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import IO

from django.db import connections

from core.db.routing.config import routing_config
from core.db.routing.rotation import rotation
from core.db.snapshots import pool_stats, server_stats
from core.metrics import multiprocess
from core.metrics.publish import ServerPublisher, publish_pool, publish_standings

logger = logging.getLogger(__name__)

POOL_INTERVAL = 1.0
# pg_stat_activity is cheap but not free; the issue asks for "every few seconds".
SERVER_INTERVAL = 5.0
LOCK_FILE = "server-sampler.lock"


class Sampler:
    def __init__(
        self, pool_interval: float = POOL_INTERVAL, server_interval: float = SERVER_INTERVAL
    ) -> None:
        self.pool_interval = pool_interval
        self.server_interval = server_interval
        self._wake = threading.Event()
        self._start_lock = threading.Lock()
        self._sample_lock = threading.Lock()
        self._pid: int | None = None
        self._lock_file: IO[bytes] | None = None
        self._server_due = 0.0
        self._server_failing = False
        self._server = ServerPublisher()
        self._tasks: list[_Task] = []

    def ensure_started(self) -> None:
        """Start this worker's thread once; a forked child starts its own.

        Only under gunicorn: a single process (tests, `runserver`) samples
        when it is scraped, which is the only time its gauges are read.
        """
        if self._pid == os.getpid() or multiprocess.directory() is None:
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._lock_file = None
            thread = threading.Thread(target=self._run, name="metrics-sampler", daemon=True)
            thread.start()

    def every(self, interval: float, task: Callable[[], object]) -> None:
        """Run `task` on the sampler thread about every `interval` seconds (under gunicorn)."""
        self._tasks.append(_Task(interval, task))

    def wake(self) -> None:
        """Sample now rather than at the next tick (a resize or timeout just happened)."""
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.pool_interval)
            self._wake.clear()
            try:
                self.sample()
                for task in self._tasks:
                    task.run_if_due()
            except Exception:
                # The sampler must outlive any one bad sample; say so, then go on.
                logger.exception("metrics sample failed")

    def sample(self) -> None:
        """Pools now, the server when due; called by the thread and by a scrape."""
        with self._sample_lock:
            self.sample_pools()
            self.sample_server()

    def sample_pools(self) -> None:
        for alias in connections:
            stats = pool_stats(alias)
            if stats is not None:
                publish_pool(stats)
        config = routing_config()
        if config.replicas:
            # Judged here too, so a replica's lag and rotation show (and a
            # change is logged) even while no request reads.
            publish_standings(rotation.standings(config))

    def sample_server(self) -> None:
        now = time.monotonic()
        if now < self._server_due or not self._is_server_sampler():
            return
        self._server_due = now + self.server_interval
        for alias in connections:
            try:
                stats = server_stats(alias, max_age=self.server_interval)
            except Exception as error:
                self._server_failed(alias, error)
                continue
            if stats is not None:
                self._server.publish(alias, stats)
                if self._server_failing:
                    logger.info("server metrics sampled again", extra={"alias": alias})
                    self._server_failing = False

    def _server_failed(self, alias: str, error: Exception) -> None:
        """Once per outage, not every five seconds: the pool already logs the database's state."""
        if not self._server_failing:
            logger.warning(
                "cannot sample server connections: %s",
                error,
                extra={"alias": alias, "error": type(error).__name__},
            )
            self._server_failing = True

    def _is_server_sampler(self) -> bool:
        directory = multiprocess.directory()
        if directory is None:
            return True
        if self._lock_file is None:
            lock_file = (directory / LOCK_FILE).open("ab")
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock_file.close()
                return False
            self._lock_file = lock_file
        return True


class _Task:
    def __init__(self, interval: float, run: Callable[[], object]) -> None:
        self.interval = interval
        self.run = run
        self.due = 0.0

    def run_if_due(self) -> None:
        now = time.monotonic()
        if now >= self.due:
            self.due = now + self.interval
            self.run()


sampler = Sampler()
