"""Probes, by Kubernetes' conventions: `/livez` (alive) and `/readyz` (ready to serve)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.access import forbidden, is_internal
from core.health import readiness
from core.health.readiness import Readiness


@never_cache
@require_GET
def livez(request: HttpRequest) -> HttpResponse:
    """Never touches the database: a database hiccup must not get every worker restarted."""
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """200 "ok" or 503 "unavailable" for anyone; each check's verdict for monitoring only.

    `?verbose` (text) or `Accept: application/json` lists every check with its
    status, duration and reason. Those name the database's state, so they
    follow `/metrics`' access rule, checked before any database work.
    """
    wants_json = request.get_preferred_type(["text/plain", "application/json"]) == (
        "application/json"
    )
    verbose = wants_json or "verbose" in request.GET
    if verbose and not is_internal(request):
        return forbidden()
    result = readiness.evaluate()
    status = 200 if result.ready else 503
    response: HttpResponse
    if wants_json:
        response = JsonResponse(_as_json(result), status=status)
    else:
        text = _as_text(result) if verbose else _verdict(result) + "\n"
        response = HttpResponse(text, content_type="text/plain", status=status)
    patch_vary_headers(response, ["Accept"])
    return response


def _verdict(result: Readiness) -> str:
    return "ok" if result.ready else "unavailable"


def _as_json(result: Readiness) -> dict[str, object]:
    return {
        "status": _verdict(result),
        "checks": [
            {
                "name": check.name,
                "status": check.status,
                "duration_ms": round(check.duration * 1000, 3),
                "detail": check.detail,
            }
            for check in result.checks
        ],
    }


def _as_text(result: Readiness) -> str:
    lines = [_verdict(result)]
    lines += [
        f"{check.name:<11} {check.status:<8} {check.duration * 1000:8.1f} ms  {check.detail}"
        for check in result.checks
    ]
    return "\n".join(lines) + "\n"
