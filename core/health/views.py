"""Probes, by Kubernetes' conventions: `/livez` (alive) and `/readyz` (ready to serve)."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.access import forbidden, is_internal
from core.health import readiness
from core.health.readiness import FLEET_WIDE_CHECKS, SCOPES, Readiness, Scope


@never_cache
@require_GET
def livez(request: HttpRequest) -> HttpResponse:
    """Never touches the database: a database hiccup must not get every worker restarted."""
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """200 "ok" or 503 "unavailable" for anyone; each check's verdict for monitoring only.

    `?scope=pod` leaves the fleet-wide checks out of the verdict (Kubernetes'
    readinessProbe; core/health/readiness.py says why); `?scope=all`, the
    default, counts every check. `?verbose` (text) or `Accept:
    application/json` lists every check with its status, duration and reason.
    Those name the database's state, so they follow `/metrics`' access rule,
    checked before any database work.
    """
    scope = request.GET.get("scope", "all")
    if scope not in SCOPES:
        return HttpResponseBadRequest(
            f"scope must be one of: {', '.join(SCOPES)}\n", content_type="text/plain"
        )
    wants_json = request.get_preferred_type(["text/plain", "application/json"]) == (
        "application/json"
    )
    verbose = wants_json or "verbose" in request.GET
    if verbose and not is_internal(request):
        return forbidden()
    result = readiness.evaluate()
    ready = result.ready_in(cast(Scope, scope))
    status = 200 if ready else 503
    response: HttpResponse
    if wants_json:
        response = JsonResponse(_as_json(result, ready, scope), status=status)
    else:
        text = _as_text(result, ready, scope) if verbose else _verdict(ready) + "\n"
        response = HttpResponse(text, content_type="text/plain", status=status)
    patch_vary_headers(response, ["Accept"])
    return response


def _verdict(ready: bool) -> str:
    return "ok" if ready else "unavailable"


def _counted(name: str, scope: str) -> bool:
    return scope == "all" or name not in FLEET_WIDE_CHECKS


def _as_json(result: Readiness, ready: bool, scope: str) -> dict[str, object]:
    return {
        "status": _verdict(ready),
        "scope": scope,
        "checks": [
            {
                "name": check.name,
                "status": check.status,
                "counted": _counted(check.name, scope),
                "duration_ms": round(check.duration * 1000, 3),
                "detail": check.detail,
            }
            for check in result.checks
        ],
    }


def _as_text(result: Readiness, ready: bool, scope: str) -> str:
    lines = [f"{_verdict(ready)} (scope {scope})"]
    lines += [
        f"{check.name:<11} {check.status:<8} {check.duration * 1000:8.1f} ms  {check.detail}"
        + ("" if _counted(check.name, scope) else "  (fleet-wide: not counted)")
        for check in result.checks
    ]
    return "\n".join(lines) + "\n"
