"""Web requests and read replicas: which requests may read from one, and read-your-writes.

`ReplicaRoutingMiddleware` (only installed when replicas are configured):

- opens a `replica_reads()` scope for every request: a safe one (GET, HEAD)
  may read from a replica; any other, a view marked `@reads_from_primary`,
  and the admin read from the primary (`core.db.routing.router` has the
  whole table);
- **read-your-writes**: when a request wrote on the primary, its response
  carries a signed cookie with the primary's WAL position after the write,
  valid for `DATABASE_ROUTING["read_your_writes"]` seconds. Until then the
  browser's requests read only from a replica that has replayed that
  position, or from the primary. A shopper who just ordered never sees the
  stock from before the order; a staff member sees their edit at once.
- **a replica that fails under a page**: when a safe request's replica turns
  out to be unreachable (its breaker opened), goes away under it (a
  shutdown, or a connection that died, in a transaction too) or cancels a
  query for a conflict with replay, the page is run once more on the primary
  instead of answering 500 or 503. GET and HEAD only: running them twice
  changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError, OperationalError, connections
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from core.db.routing import signals
from core.db.routing.config import routing_config
from core.db.routing.router import Decision, ReplicaRouter
from core.db.routing.scope import current_route, replica_reads
from core.db.routing.writes import watch_writes, written_lsn

logger = logging.getLogger("core.db.routing")

COOKIE = "db_lsn"
SALT = "core.http.routing"
SAFE_METHODS = frozenset({"GET", "HEAD"})
# URL namespaces whose views read from the primary: the admin shows staff
# the rows they just saved, and checks what they edit against the latest.
PRIMARY_APPS = frozenset({"admin"})
# SQLSTATEs of a replica that cannot answer this page but the primary can: a
# hot standby cancelling a query for a conflict with replay
# (serialization_failure, deadlock_detected), or a server going away
# (admin_shutdown, crash_shutdown, cannot_connect_now).
REPLICA_FAILURES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03"})

View = Callable[..., HttpResponseBase]


def reads_from_primary(view: View) -> View:
    """Mark a view whose reads must be the latest: stock checks, checkout, an order just placed."""
    view.reads_from_primary = True  # type: ignore[attr-defined]
    return view


class ReplicaRoutingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        config = routing_config()
        if not config.replicas:
            return self.get_response(request)
        token = self._token(request, config.read_your_writes)
        with (
            replica_reads(min_lsn=token) as route,
            connections[config.primary].execute_wrapper(watch_writes),
        ):
            if request.method not in SAFE_METHODS:
                route.pin_primary()
            response = self.get_response(request)
            lsn = written_lsn(config.primary) if route.wrote else None
        if lsn is not None:
            response.set_signed_cookie(
                COOKIE,
                format(max(lsn, token or 0), "x"),
                salt=SALT,
                max_age=int(config.read_your_writes),
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response

    @staticmethod
    def _token(request: HttpRequest, max_age: float) -> int | None:
        value = request.get_signed_cookie(COOKIE, default=None, salt=SALT, max_age=int(max_age))
        try:
            return int(value, 16) if value else None
        except ValueError:
            return None

    def process_view(
        self, request: HttpRequest, view: View, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        route = current_route()
        match = request.resolver_match
        if route is not None and (
            getattr(view, "reads_from_primary", False)
            or (match is not None and PRIMARY_APPS.intersection(match.app_names))
        ):
            route.pin_primary()
        return None

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponseBase | None:
        route = current_route()
        replica = route.chosen if route is not None else None
        if (
            route is None
            or route.retried
            or request.method not in SAFE_METHODS
            or replica not in routing_config().replicas
            or not replica_failed(replica, exception, since=route.started)
        ):
            return None
        route.retried = True
        route.pin_primary()
        route.chosen = routing_config().primary
        logger.info(
            "replica %s failed under %s %s: serving it from the primary",
            replica,
            request.method,
            request.path,
            extra={"alias": replica, "error": type(exception).__name__},
        )
        signals.read_routed.send(
            sender=ReplicaRouter, alias=route.chosen, reason=str(Decision.REPLICA_FAILED)
        )
        return self.get_response(request)


def replica_failed(alias: str, exception: Exception, *, since: float) -> bool:
    """Did the replica fail under the page (not the page's own query)?

    Its SQLSTATE says so, or its breaker is open, or a connection to it died
    since the page began (`since`, time.monotonic()). A server that vanished
    without a word (a crash, a network cut) sends no SQLSTATE, and inside a
    transaction Django has already replaced the dead connection by the time
    the error gets here: the backend's `connection_lost_at` remembers. A
    query that was merely slow (statement_timeout) is not run again on the
    primary.
    """
    if not isinstance(exception, DatabaseError):
        return False
    replica = connections[alias]
    lost_at = getattr(replica, "connection_lost_at", None)
    if lost_at is not None and lost_at >= since:
        # Whatever psycopg called it: a lost connection without a SQLSTATE
        # can surface as a plain DatabaseError.
        return True
    if not isinstance(exception, OperationalError):
        return False
    if getattr(exception.__cause__, "sqlstate", None) in REPLICA_FAILURES:
        return True
    dead = getattr(getattr(replica, "connection", None), "closed", False)
    return bool(getattr(replica, "breaker_open", False) or dead)
