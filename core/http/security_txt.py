"""`/.well-known/security.txt` (RFC 9116): how a researcher reaches us about a vulnerability.

Built from settings (SECURITY_TXT_*) so each deployment names its own
contact; `Expires` is always SECURITY_TXT_EXPIRES_DAYS ahead, so the file
cannot go stale because nobody remembered to renew it.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe


@require_safe
def security_txt(request: HttpRequest) -> HttpResponse:
    expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(
        days=settings.SECURITY_TXT_EXPIRES_DAYS
    )
    lines = [f"Contact: {contact}" for contact in settings.SECURITY_TXT_CONTACT]
    lines.append(f"Expires: {expires.isoformat().replace('+00:00', 'Z')}")
    if settings.SECURITY_TXT_POLICY:
        lines.append(f"Policy: {settings.SECURITY_TXT_POLICY}")
    lines.append(f"Preferred-Languages: {settings.SECURITY_TXT_LANGUAGES}")
    lines.append(f"Canonical: {request.build_absolute_uri()}")
    response = HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
