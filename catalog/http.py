"""Validators and cache headers for catalog responses, so that browsers and a CDN can revalidate.

One cheap query (`catalog_version`) says whether anything a page shows may have
changed: the newest `updated_at` of widgets and categories, and how many
widgets there are (a deletion changes no timestamp). A request whose
`If-None-Match` still matches gets a 304 at the cost of that one query.

Pages show per-shopper things (the cart badge, a CSRF token, flash messages),
and the status banner, so their ETag also covers the cookies that carry them
(see _page_cookies) and the banner's version, and they are
`private, no-cache`: stored, but revalidated every time. The JSON API shows
nothing per-shopper and is `public` for a short `max-age`, so a CDN can
serve it. Written here rather than with Django's `condition()` decorator,
which would compute the version twice (once for ETag, once for Last-Modified).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.http import http_date, quote_etag

from catalog.models import Category, Widget
from core.status.context_processors import banner_version

View = Callable[..., HttpResponseBase]


@dataclass(frozen=True)
class CatalogVersion:
    last_modified: dt.datetime | None
    token: str


def catalog_version() -> CatalogVersion:
    """What changes whenever anything a catalog page shows changes; one indexed query."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT max(updated_at) FROM {Widget._meta.db_table}),"
            f" (SELECT count(*) FROM {Widget._meta.db_table}),"
            f" (SELECT max(updated_at) FROM {Category._meta.db_table})"
        )
        widgets_changed, widget_count, categories_changed = cursor.fetchone()
    stamps = [stamp for stamp in (widgets_changed, categories_changed) if stamp is not None]
    last_modified = max(stamps) if stamps else None
    token = f"{widgets_changed}|{widget_count}|{categories_changed}"
    return CatalogVersion(last_modified, token)


# The cookies whose content shows on a page: the session (cart badge, and a
# login, which also rotates the CSRF token) and pending flash messages. The
# CSRF cookie itself is left out: the first page a shopper sees sets it, and
# the form token on that page already matches it.
def _page_cookies() -> tuple[str, ...]:
    return (settings.SESSION_COOKIE_NAME, "messages")


def _etag(request: HttpRequest, version: CatalogVersion, *, per_shopper: bool) -> str:
    digest = hashlib.blake2b(digest_size=16)
    parts = [version.token, request.get_full_path()]
    if per_shopper:
        parts += [request.COOKIES.get(name, "") for name in _page_cookies()]
        parts.append(banner_version())
    for part in parts:
        digest.update(part.encode() + b"\0")
    return quote_etag(digest.hexdigest())


def revalidated(*, per_shopper: bool) -> Callable[[View], View]:
    """Give a GET view ETag, Last-Modified and Cache-Control, and answer 304 when it can.

    `per_shopper` pages are private and always revalidated; the others are
    public for CATALOG_API_MAX_AGE seconds. Only 200s carry validators: an
    error page must never be revalidated into a success.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in ("GET", "HEAD"):
                return view(request, *args, **kwargs)
            version = catalog_version()
            # Weak: the bytes differ from render to render (the CSRF token is
            # masked afresh), the page does not.
            etag = "W/" + _etag(request, version, per_shopper=per_shopper)
            last_modified = version.last_modified.timestamp() if version.last_modified else None
            response: HttpResponseBase | None = get_conditional_response(
                request, etag=etag, last_modified=int(last_modified) if last_modified else None
            )
            if response is None:
                response = view(request, *args, **kwargs)
                if response.status_code != 200:
                    return response
            response.headers["ETag"] = etag
            if last_modified is not None:
                response.headers["Last-Modified"] = http_date(last_modified)
            if per_shopper:
                patch_cache_control(response, private=True, no_cache=True)
                patch_vary_headers(response, ["Cookie"])
            else:
                patch_cache_control(response, public=True, max_age=settings.CATALOG_API_MAX_AGE)
            return response

        return wrapped

    return decorator
