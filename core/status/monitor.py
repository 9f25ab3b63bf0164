"""The status monitor: a small thread per gunicorn worker that keeps the shared state moving.

Every `STATUS_MONITOR_INTERVAL` seconds it

1. adds this worker's counts and heartbeat to the fleet's buckets (`signals.flush`);
2. if no other worker on any host did so this interval (a lock in the cache),
   evaluates the fleet's window against the rules and steps the components'
   hysteresis, which opens, updates or resolves the automatic incident, and
   starts or ends maintenance windows on time;
3. writes pending automatic incidents back to PostgreSQL, and takes staff's
   changes from it every `SYNC_SECONDS`, whenever the database answers.

Like the metrics sampler, the thread starts on a worker's first request and
only under gunicorn; a single process (the tests) calls `tick()` itself.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from core.health.readiness import Readiness
from core.metrics import definitions as m
from core.metrics import multiprocess
from core.status import services, signals
from core.status.components import COMPONENTS
from core.status.snapshot import component_statuses
from core.status.state import cache, safely, store

logger = logging.getLogger(__name__)

LEADER_KEY = "status:evaluator"
# Staff's edits reach the document at once (the admin publishes them); this
# catches whatever that missed, such as an edit made while the cache was down.
SYNC_SECONDS = 30.0
# A readiness verdict older than this says nothing about the database now.
READINESS_MAX_AGE = 30.0


_readiness: Readiness | None = None


def remember_readiness(result: Readiness) -> None:
    """This worker's latest readiness verdict, for its heartbeat (see receivers.py)."""
    global _readiness
    _readiness = result


def _recent_readiness() -> Readiness | None:
    last = _readiness
    if last is None or time.monotonic() - last.evaluated_at > READINESS_MAX_AGE:
        return None
    return last


def _database_ok(counts: dict[tuple[str, str], int]) -> bool | None:
    """False when this worker knows the database is down: its pool's breaker is open, or
    requests got `DatabaseUnavailable`; else readiness' last word, if recent."""
    if getattr(connections[DEFAULT_DB_ALIAS], "breaker_open", False):
        return False
    if any(n and signal == signals.UNAVAILABLE for (_, signal), n in counts.items()):
        return False
    last = _recent_readiness()
    if last is None:
        return None
    database = next((c for c in last.checks if c.name == "database"), None)
    return None if database is None or database.status == "skipped" else database.status == "ok"


def _ready() -> bool | None:
    last = _recent_readiness()
    return None if last is None else last.ready


def tick(now: float | None = None) -> None:
    """One round of the monitor; `now` (epoch seconds) is injected by tests."""
    at = time.time() if now is None else now
    counts = signals.take()
    if not signals.flush(
        counts, at, worker=store.owner, ready=_ready(), database_ok=_database_ok(counts)
    ):
        signals.restore(counts)
    interval = max(1, int(settings.STATUS_MONITOR_INTERVAL))
    # One evaluation per interval for the whole fleet: the first worker to claim its slot.
    slot = f"{LEADER_KEY}:{int(at // interval)}"
    if safely("leader", lambda: cache().add(slot, store.owner, 2 * interval), False):
        window = signals.window(at, (c.id for c in COMPONENTS))
        if window is not None:
            evaluated = services.evaluate(window, at)
            for component, status in component_statuses(evaluated, at).items():
                m.STATUS_COMPONENT.labels(component).set(status.rank)
    document = store.read(max_age=0)
    if document.get("pending_writeback"):
        services.write_back()
    if at - float(document.get("synced_at", 0.0)) >= SYNC_SECONDS:
        services.sync_from_database(at)


class Monitor:
    def __init__(self) -> None:
        self._pid: int | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        if self._pid == os.getpid() or multiprocess.directory() is None:
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="status-monitor", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(settings.STATUS_MONITOR_INTERVAL)
            try:
                tick()
            except Exception:
                # The monitor must outlive any one bad round; say so, then go on.
                logger.exception("status monitor round failed")
            finally:
                connections[DEFAULT_DB_ALIAS].close()


monitor = Monitor()
