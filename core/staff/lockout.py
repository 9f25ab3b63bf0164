"""What a locked-out login gets: a 429 that says for how long, for people and for scripts."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def locked_out(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    cool_off = get_cool_off(request)
    response = render(request, "staff/locked_out.html", {"cooloff_timedelta": cool_off}, status=429)
    if cool_off is not None:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
