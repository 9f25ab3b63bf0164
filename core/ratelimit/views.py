"""Rate limits at the edge of a view, and the 429 a refused request gets."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from core.ratelimit.limiter import Verdict, limit

View = Callable[..., Any]


def too_many_requests(request: HttpRequest, verdict: Verdict) -> HttpResponse:
    """429 with Retry-After: a page that says when to come back, or JSON for the API."""
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "error": "rate_limited",
                "detail": "Too many requests; please retry later.",
                "retry_after": verdict.retry_after,
            },
            status=429,
        )
    else:
        context = {"retry_after": verdict.retry_after, "scope": verdict.scope}
        response = render(request, "429.html", context, status=429)
    response["Retry-After"] = str(verdict.retry_after)
    add_never_cache_headers(response)
    return response


def rate_limited(scope: str, *, methods: Collection[str] = ("POST",)) -> Callable[[View], View]:
    """Charge one request of `scope` for each call with one of `methods`; 429 when over."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.method in methods:
                verdict = limit(scope).hit(request)
                if not verdict.allowed:
                    return too_many_requests(request, verdict)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
