"""The status page, its JSON and feed, and the Alertmanager webhook. Thin: snapshot in, page out.

None of the pages touches the database: they render the shared document
(`state.store`) as of its last change and say so, so they answer the same
while PostgreSQL is down.
"""

from __future__ import annotations

import hmac
import json
import logging
import time

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core.metrics import definitions as m
from core.status import alerts, services, snapshot
from core.status.state import store
from core.status.summary import summary

logger = logging.getLogger(__name__)


def _snapshot() -> snapshot.Snapshot:
    return snapshot.build(store.read(), time.time())


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


@require_GET
def page(request: HttpRequest) -> HttpResponse:
    response = render(request, "status/page.html", {"snapshot": _snapshot()})
    patch_cache_control(response, no_cache=True, private=True)
    return response


@require_GET
def incident(request: HttpRequest, public_id: str) -> HttpResponse:
    current = _snapshot()
    found = next((i for i in current.incidents if i["id"] == public_id), None)
    if found is None:
        raise Http404("No such incident on the status page")
    response = render(request, "status/incident.html", {"snapshot": current, "incident": found})
    patch_cache_control(response, no_cache=True, private=True)
    return response


@require_GET
def summary_json(request: HttpRequest) -> JsonResponse:
    """Public, briefly cacheable, readable from any origin (it says nothing secret)."""
    response = JsonResponse(summary(_snapshot(), _base_url(request)))
    patch_cache_control(response, public=True, max_age=settings.STATUS_SUMMARY_MAX_AGE)
    response["Access-Control-Allow-Origin"] = "*"
    return response


_OUTCOME = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    413: "too_large",
    503: "not_saved",
}


def _error(status: int, message: str) -> JsonResponse:
    m.STATUS_WEBHOOK.labels(_OUTCOME[status]).inc()
    return JsonResponse({"error": message}, status=status)


def _authorised(request: HttpRequest) -> int | None:
    """None when the bearer token matches; else 401 (none sent) or 403 (wrong one)."""
    token: str = settings.STATUS_WEBHOOK_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return 401
    if not token or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        return 403
    return None


@csrf_exempt  # machine to machine, authenticated by its bearer token
@never_cache
@require_POST
def alertmanager(request: HttpRequest) -> JsonResponse:
    """Alertmanager's webhook (payload version 4). Checked whole before anything changes."""
    refused = _authorised(request)
    if refused == 401:
        response = _error(401, "a bearer token is required")
        response["WWW-Authenticate"] = 'Bearer realm="status"'
        return response
    if refused == 403:
        logger.warning(
            "status webhook: wrong bearer token from %s", request.META.get("REMOTE_ADDR")
        )
        return _error(403, "wrong token")
    limit: int = settings.STATUS_WEBHOOK_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isascii() or not declared.isdigit():
        return _error(400, "bad Content-Length")
    if int(declared) > limit:
        return _error(413, f"payload over {limit} bytes")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _error(413, f"payload over {limit} bytes")
    try:
        payload = json.loads(body)
        received = alerts.parse(payload)
    except (ValueError, RecursionError) as error:
        logger.warning("status webhook: refused a payload: %s", str(error)[:200])
        return _error(
            400, str(error)[:200] if isinstance(error, alerts.PayloadError) else "malformed JSON"
        )
    result = services.receive_alerts(received)
    if not result.shared:
        # Only this worker took it in: ask Alertmanager to send it again
        # (it retries), rather than lose a resolve the other workers never saw.
        response = _error(503, "the status state could not be saved; retry")
        response["Retry-After"] = "5"
        return response
    m.STATUS_WEBHOOK.labels("accepted").inc()
    return JsonResponse({"received": len(received), "changed": result.changed})
