"""Hold connections the ways real code does, on demand.

Each is a POST (a GET that holds a connection is one a crawler or a
prefetching browser could send) from the monitoring network (core/access.py),
takes `?seconds=` (0 to 30) and answers 400 to anything else.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.access import internal_only

MAX_SECONDS = 30.0

View = Callable[[HttpRequest], HttpResponse]


def _timed(view: Callable[[HttpRequest, float], HttpResponse]) -> View:
    # No CSRF token: the callers are test tools, never a browser, and the
    # network check below already refuses any page a shopper could be tricked into.
    @csrf_exempt
    @never_cache
    @require_POST
    @internal_only
    def wrapper(request: HttpRequest) -> HttpResponse:
        try:
            seconds = float(request.GET.get("seconds", "0"))
        except ValueError:
            return HttpResponseBadRequest("seconds must be a number\n")
        if not 0 <= seconds <= MAX_SECONDS:
            return HttpResponseBadRequest(f"seconds must be between 0 and {MAX_SECONDS:g}\n")
        return view(request, seconds)

    wrapper.__doc__ = view.__doc__
    return wrapper


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@_timed
def query(request: HttpRequest, seconds: float) -> HttpResponse:
    """One quick query: the cheapest page that needs the database."""
    _select_one()
    return HttpResponse("ok\n", content_type="text/plain")


@_timed
def hold(request: HttpRequest, seconds: float) -> HttpResponse:
    """A slow query: the connection is busy on the server for `seconds`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
    return HttpResponse("held\n", content_type="text/plain")


@_timed
def render(request: HttpRequest, seconds: float) -> HttpResponse:
    """A quick query, then `seconds` of work without the database (a slow template)."""
    _select_one()
    time.sleep(seconds)
    return HttpResponse("rendered\n", content_type="text/plain")


@_timed
def leak(request: HttpRequest, seconds: float) -> HttpResponse:
    """A transaction kept open while Python sleeps: the connection is held, idle."""
    with transaction.atomic():
        _select_one()
        time.sleep(seconds)
    return HttpResponse("leaked\n", content_type="text/plain")
