"""Registering staff logins server-side, and refusing any session that was ended.

Shoppers never log in, so for them this costs nothing: the middleware looks
only at sessions that carry a logged-in user, with one indexed query.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from core.http.proxies import client_address, parse_address
from core.staff.models import StaffSession

# The session key under which a login's StaffSession key travels.
STAFF_SESSION_KEY = "_staff_session"


@receiver(user_logged_in, dispatch_uid="core.staff.login")
def register(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is None:
        return
    lifetime = dt.timedelta(hours=settings.STAFF_SESSION_HOURS)
    address = parse_address(client_address(request))
    session = StaffSession.objects.create(
        key=secrets.token_urlsafe(32),
        user=user,
        expires_at=timezone.now() + lifetime,
        ip_address=str(address) if address else None,
        user_agent=request.headers.get("User-Agent", "")[:200],
    )
    request.session[STAFF_SESSION_KEY] = session.key
    # The cookie dies with the server-side session, not a fortnight later.
    request.session.set_expiry(lifetime)


@receiver(user_logged_out, dispatch_uid="core.staff.logout")
def end(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is None:
        return
    key = request.session.get(STAFF_SESSION_KEY)
    if key:
        StaffSession.objects.filter(key=key, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )


def revoke(sessions: Any) -> int:
    """End these sessions now (a queryset); the next request of each is logged out."""
    return int(sessions.filter(revoked_at__isnull=True).update(revoked_at=timezone.now()))


class StaffSessionMiddleware:
    """Logs out a request whose staff session expired, was revoked, or was never registered."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        session = request.session
        if SESSION_KEY in session:
            key = session.get(STAFF_SESSION_KEY)
            alive = (
                key is not None
                and StaffSession.objects.live()
                .filter(key=key, user_id=session[SESSION_KEY])
                .exists()
            )
            if not alive:
                logout(request)
        return self.get_response(request)
