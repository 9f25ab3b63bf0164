"""Is this worker ready to serve? Three checks, cheapest first, each timed.

1. `pool`: from `pool_stats()` alone, no database: a pool in use past
   `READYZ_POOL_SATURATION` of its ceiling is not ready, and the checks below
   are skipped, so a probe never takes the last connection a shopper needs.
2. `database`: `SELECT 1` answers within `READYZ_TIMEOUT`.
3. `migrations`: nothing left to apply. Remembered once true: a deploy
   only ever adds migrations before the new code starts.

Written by hand rather than with django-health-check (v4, evaluated): its
view runs every check at once (`asyncio.gather`), so the pool check could not
gate the query; it answers 500, not 503; under our WSGI workers its async
view runs each sync check in an executor thread with its own connection; it
has no migrations check and its JSON has no durations. What we keep of it:
checks as small named units, each timed, with a human-readable reason.

Two scopes. The full verdict (`/readyz`) counts every check. The pod scope
(`/readyz?scope=pod`, what Kubernetes' readinessProbe asks) leaves out the
checks that fail for every pod at once: the database answers every pod or
none, and a surge a Service spreads evenly saturates every pod's pool
together. If a probe took every pod out of the Service for those, the
ingress would answer bare 503s instead of our own (with `Retry-After`, or a
stale cached page). A pod never knows whether its peers are saturated too,
so saturation is not counted at all in the pod scope; a pod that is stuck on
its own (every thread busy) cannot answer the probe and is taken out anyway.
Both scopes run the same checks, so `?verbose` and the metrics still show
the database and the pool.

The database checks run on one probe thread per worker with a deadline, so a
hung server (not a refused connection, which fails fast) makes `/readyz`
answer 503 within the timeout instead of hanging a request thread; while an
earlier check is still stuck, later probes fail at once instead of piling up.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, OperationalError, connections
from django.db.migrations.executor import MigrationExecutor

from core.db.backends.postgresql.errors import ConnectionUnavailable
from core.db.snapshots import pool_stats
from core.health.signals import readiness_evaluated

logger = logging.getLogger(__name__)

Status = Literal["ok", "fail", "skipped"]
Scope = Literal["all", "pod"]
SCOPES: tuple[Scope, ...] = ("all", "pod")

# Checks that fail for every pod of the fleet at once (see the module's docstring).
FLEET_WIDE_CHECKS = frozenset({"pool", "database"})


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    duration: float  # seconds
    detail: str


@dataclass(frozen=True)
class Readiness:
    checks: tuple[CheckResult, ...]
    evaluated_at: float  # time.monotonic()

    @property
    def ready(self) -> bool:
        """The full verdict: every check passed."""
        return all(check.status == "ok" for check in self.checks)

    def ready_in(self, scope: Scope) -> bool:
        """In the pod scope, only a check that failed on this pod's own state counts.

        A check skipped because a fleet-wide one failed (migrations while the
        database is down) is not known to fail, so it does not count either.
        """
        if scope == "all":
            return self.ready
        return not any(
            check.status == "fail" and check.name not in FLEET_WIDE_CHECKS for check in self.checks
        )


class _Probe:
    """The worker's probe thread, and what it has learnt for good."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pid: int | None = None
        self._in_flight: Future[list[CheckResult]] | None = None
        self.migrated = False
        self.last: Readiness | None = None

    def submit(self, work: Callable[[], list[CheckResult]]) -> Future[list[CheckResult]] | None:
        """Start `work` on the probe thread, or None while the last one is still running."""
        with self._lock:
            if self._pid != os.getpid():  # a thread pool does not survive a fork
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz")
                self._pid = os.getpid()
                self._in_flight = None
            if self._in_flight is not None and not self._in_flight.done():
                return None
            assert self._executor is not None
            self._in_flight = self._executor.submit(work)
            return self._in_flight


_probe = _Probe()


def _timed(name: str, check: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = check()
    except NotReadyError as error:
        return CheckResult(name, "fail", time.perf_counter() - started, str(error))
    except Exception as error:
        # The exception's text can name the database host, its role or a
        # file path: it goes to the log, and the answer says only its category.
        logger.warning("readiness check %s failed: %s", name, error, extra={"check": name})
        return CheckResult(name, "fail", time.perf_counter() - started, reason_category(error))
    return CheckResult(name, "ok", time.perf_counter() - started, detail)


# SQLSTATE classes and codes whose meaning on-call needs, from PostgreSQL's
# errcodes appendix: enough to pick a runbook section, nothing about the host.
_SQLSTATE_CATEGORIES = {
    "28": "authentication failed",
    "3D": "database does not exist",
    "53300": "too many connections",
    "57P": "server shutting down or starting",
    "08": "connection failed",
}


def reason_category(error: BaseException) -> str:
    """What kind of failure this is, in words that reveal no host, role or path."""
    if isinstance(error, ConnectionUnavailable):
        return "database unavailable (the pool could not connect)"
    sqlstate = getattr(error, "sqlstate", None) or getattr(error.__cause__, "sqlstate", None)
    if sqlstate:
        for prefix, category in _SQLSTATE_CATEGORIES.items():
            if sqlstate.startswith(prefix):
                return category
    if isinstance(error, OperationalError):
        return "connection failed"
    if isinstance(error, DatabaseError):
        return "database error"
    return "unexpected error"


class NotReadyError(Exception):
    """A check's reason for failing, said in one line of our own words."""


def check_pool(alias: str) -> str:
    stats = pool_stats(alias)
    if stats is None:
        return "not pooled"
    usage = f"{stats.in_use}/{stats.max_size} in use, {stats.waiting} waiting"
    if stats.saturation >= settings.READYZ_POOL_SATURATION:
        raise NotReadyError(f"saturated: {usage} (threshold {settings.READYZ_POOL_SATURATION:.0%})")
    return usage


def check_database(alias: str) -> str:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "SELECT 1 answered"


def check_migrations(alias: str) -> str:
    if _probe.migrated:
        return "all applied (remembered)"
    executor = MigrationExecutor(connections[alias])
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in pending)
        raise NotReadyError(f"{len(pending)} not applied: {names}"[:200])
    _probe.migrated = True
    return "all applied"


def _database_checks(alias: str) -> list[CheckResult]:
    """On the probe thread: its connection goes back (to the pool) when done."""
    try:
        database = _timed("database", lambda: check_database(alias))
        if database.status != "ok":
            return [database, _skipped("migrations", "database not answering")]
        return [database, _timed("migrations", lambda: check_migrations(alias))]
    finally:
        connections[alias].close()


def _skipped(name: str, why: str) -> CheckResult:
    return CheckResult(name, "skipped", 0.0, why)


def evaluate(alias: str = DEFAULT_DB_ALIAS) -> Readiness:
    pool = _timed("pool", lambda: check_pool(alias))
    if pool.status != "ok":
        rest = [_skipped("database", "pool saturated"), _skipped("migrations", "pool saturated")]
    else:
        rest = _run_database_checks(alias)
    readiness = Readiness((pool, *rest), time.monotonic())
    _probe.last = readiness
    readiness_evaluated.send(sender=Readiness, readiness=readiness)
    return readiness


def _run_database_checks(alias: str) -> list[CheckResult]:
    timeout: float = settings.READYZ_TIMEOUT
    started = time.perf_counter()
    future = _probe.submit(lambda: _database_checks(alias))
    if future is None:
        stuck = CheckResult("database", "fail", 0.0, "the previous check is still waiting")
        return [stuck, _skipped("migrations", "database not answering")]
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        late = CheckResult(
            "database",
            "fail",
            time.perf_counter() - started,
            f"no answer within {timeout:g}s",
        )
        return [late, _skipped("migrations", "database not answering")]


def latest(max_age: float, alias: str = DEFAULT_DB_ALIAS) -> Readiness:
    """The last evaluation if younger than `max_age` seconds, else a new one."""
    last = _probe.last
    if last is not None and time.monotonic() - last.evaluated_at < max_age:
        return last
    return evaluate(alias)
