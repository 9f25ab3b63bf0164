"""The site banner for every template, from memory, never from the database.

`status_banner` is the context processor; `banner_version` is what a page's
validators (ETag) must include, so a browser revalidating a page it saw
during an incident is not told "304, unchanged" once the incident is over.
Both read this process's copy of the shared document (at most
`STATUS_LOCAL_TTL` seconds old): no query, so the banner shows when the
database is down, and a page cache can keep it per request around cached
content (issue 9 phase 2).
"""

from __future__ import annotations

import time
from typing import Any

from django.http import HttpRequest

from core.status import snapshot
from core.status.state import store


def current_banner() -> snapshot.Banner | None:
    return snapshot.build(store.read(), time.time()).banner


def status_banner(request: HttpRequest) -> dict[str, Any]:
    """`status_banner`: a `snapshot.Banner` (kind, title, body, role, severity) or None."""
    return {"status_banner": current_banner()}


def banner_version() -> str:
    """Changes whenever the banner a page shows would change; empty when there is none."""
    banner = current_banner()
    if banner is None:
        return ""
    return "\0".join((banner.kind, banner.title, banner.body, banner.role, banner.severity))
