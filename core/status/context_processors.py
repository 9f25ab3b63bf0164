"""`status_banner` for every template: the banner, from memory, never from the database."""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpRequest

from core.status import snapshot
from core.status.state import store


def status_banner(request: HttpRequest) -> dict[str, Any]:
    """`status_banner`: a `snapshot.Banner` or None.

    Reads this process's copy of the shared document (at most
    `STATUS_LOCAL_TTL` seconds old, refreshed from the cache): no query, so
    it shows when the database is down, and a page cache may keep it
    per request around cached content (issue 9 phase 2).
    """
    return {"status_banner": snapshot.build(store.read(), time.time()).banner}
