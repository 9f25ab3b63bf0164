"""The seam: every cacheable catalog answer goes through `serve()`.

A view parses its input (a bad query string is answered at once and never
cached, so garbage cannot grow the key space), names the answer with a
`Page` (kind, path, normalised parameters, and the origin for answers that
hold absolute URLs) and hands `serve()` a function that renders it without the
request. `serve()`:

1. fetches the copy for the page's key (catalog/caching/copies.py: hit, one
   render per key, the previous copy meanwhile, the last good copy while the
   database is down);
2. answers `If-None-Match` with a 304 when it can, from the copy's version:
   no query;
3. fills in the per-shopper fragments for this request
   (catalog/caching/fragments.py);
4. sets the headers: `Cache-Status` (RFC 9211) says how it was answered;
   stale answers also get `Age`, no validators, and the banner.

Keys are `page:<kind>:<blake2b of origin, path and parameters>`: about 60
characters whatever the query string. Only 200s are stored: a 404 past the
last page or an unknown product is rendered each time. Pages keyed by
free-form input (`Cacheable.brief`: search terms, price bounds) are kept only
CATALOG_CACHE_FRESH; every other key names something the shop offers.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.loader import render_to_string
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.http import http_date, quote_etag, urlencode

from catalog.caching.copies import Fetched, Outcome, catalog_copies
from catalog.caching.degraded import serve_stale
from catalog.caching.fragments import HOLES, Holes, Parts, fill
from core.status.context_processors import banner_version

HTML = "text/html; charset=utf-8"
JSON = "application/json"
# The cookies whose content shows on a page: the session (cart badge, and a
# login, which also rotates the CSRF token) and pending flash messages. The
# CSRF cookie itself is left out: the first page a shopper sees sets it, and
# the form token on that page already matches it.
PAGE_COOKIES = (settings.SESSION_COOKIE_NAME, "messages")


@dataclass(frozen=True)
class Page:
    """What identifies one cacheable answer."""

    kind: str  # what it is, for the metrics: home, listing, search, product, api...
    path: str
    params: tuple[tuple[str, str], ...] = ()
    # scheme://host, for answers that hold absolute URLs (the API); "" otherwise.
    origin: str = ""

    @property
    def key(self) -> str:
        digest = hashlib.blake2b(digest_size=20)
        for part in (self.origin, self.path, urlencode(self.params)):
            digest.update(part.encode() + b"\0")
        return f"page:{self.kind}:{digest.hexdigest()}"


@dataclass(frozen=True)
class Rendered:
    """A rendered answer as the cache keeps it: shared text and per-shopper fragments."""

    status: int
    content_type: str
    parts: Parts
    # Headers of the answer itself, kept with it (a picture's Content-Security-Policy).
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Cacheable:
    """A page and the function that renders it without the request: what `serve` takes."""

    page: Page
    render: Callable[[], Rendered]
    # Keyed by free-form input (search terms, prices): kept only while it may be
    # fresh, so that such keys, which have no end, cannot fill the cache for
    # hours and push out the last good copies of the pages every shopper shares.
    brief: bool = False


def render_page(template_name: str, context: dict[str, Any], *, status: int = 200) -> Rendered:
    """A template rendered for every shopper alike: no request, so no shopper's data."""
    holes = Holes()
    html = render_to_string(template_name, {**context, HOLES: holes})
    return Rendered(status, HTML, holes.split(html))


def render_json(data: Any, *, status: int = 200) -> Rendered:
    return Rendered(status, JSON, (json.dumps(data, cls=DjangoJSONEncoder),))


def serve(
    request: HttpRequest,
    cacheable: Cacheable,
    *,
    per_shopper: bool = True,
    max_age: int | None = None,
) -> HttpResponseBase:
    """The answer for a page: from the cache when it can, rendered when it must.

    `per_shopper` pages show the shopper's cart and tokens: they are private and
    always revalidated. The others (the API, pictures) are public for `max_age`
    (default CATALOG_API_MAX_AGE), and a CDN may serve them stale (RFC 5861)
    while revalidating, and for as long as we keep a copy while we fail.
    """
    page = cacheable.page
    fetched = _fetch(cacheable)
    rendered = fetched.value
    validators = _validators(request, page, fetched, per_shopper=per_shopper)
    if fetched.stale is not None:
        serve_stale(request, fetched.stale)
    elif validators is not None:
        etag, last_modified = validators
        conditional = get_conditional_response(request, etag=etag, last_modified=int(last_modified))
        if conditional is not None:
            return _headers(conditional, fetched, validators, per_shopper, max_age)
    response = HttpResponse(
        fill(rendered.parts, request), status=rendered.status, content_type=rendered.content_type
    )
    for name, value in rendered.headers:
        response.headers[name] = value
    return _headers(response, fetched, validators, per_shopper, max_age)


def warm(cacheable: Cacheable) -> Outcome:
    """Render a page into the cache unless a current copy is there (manage.py warm_cache)."""
    fetched = _fetch(cacheable)
    if fetched.outcome is Outcome.MISS and fetched.value.status != 200:
        return Outcome.UNCACHED
    return fetched.outcome


def _fetch(cacheable: Cacheable) -> Fetched[Rendered]:
    page = cacheable.page
    return catalog_copies("pages", brief=cacheable.brief).fetch(
        page.key, cacheable.render, label=page.kind, keep=_storable
    )


def _storable(rendered: Rendered) -> bool:
    return rendered.status == 200


def _validators(
    request: HttpRequest, page: Page, fetched: Fetched[Rendered], *, per_shopper: bool
) -> tuple[str, float] | None:
    """(ETag, Last-Modified) for a current 200; None for errors and stale answers.

    An error must never be revalidated into a success, nor a stale copy into
    a current one. The ETag is weak: the bytes differ from one request to
    the next (the CSRF token is masked afresh), the page does not.
    """
    if fetched.value.status != 200 or fetched.stale is not None or fetched.version is None:
        return None
    parts: Sequence[str] = [str(fetched.version), page.origin, request.get_full_path()]
    if per_shopper:
        # The shopper's cookies and the status banner are filled in per request.
        cookies = [request.COOKIES.get(name, "") for name in PAGE_COOKIES]
        parts = [*parts, *cookies, banner_version()]
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(part.encode() + b"\0")
    return "W/" + quote_etag(digest.hexdigest()), fetched.made_at


CACHE_STATUS = {
    Outcome.HIT: "widgetworld; hit",
    Outcome.MISS: "widgetworld; fwd=miss",
    Outcome.WAITED: "widgetworld; hit; collapsed",
    Outcome.PREVIOUS: "widgetworld; hit; detail=revalidating",
    Outcome.UNCACHED: "widgetworld; fwd=miss; detail=cache-unavailable",
}


def _headers(
    response: HttpResponseBase,
    fetched: Fetched[Rendered],
    validators: tuple[str, float] | None,
    per_shopper: bool,
    max_age: int | None,
) -> HttpResponseBase:
    if fetched.stale is not None:
        reason = fetched.stale.reason.replace("_", "-")
        response.headers["Cache-Status"] = f"widgetworld; hit; detail=stale-{reason}"
    else:
        stored = fetched.outcome is Outcome.MISS and fetched.value.status == 200
        response.headers["Cache-Status"] = CACHE_STATUS[fetched.outcome] + (
            "; stored" if stored else ""
        )
    if fetched.outcome in (Outcome.STALE, Outcome.PREVIOUS):
        # Not revalidated against the catalog: how long ago it was made.
        response.headers["Age"] = str(max(0, int(time.time() - fetched.made_at)))
    if fetched.value.status != 200:
        return response
    if validators is not None:
        etag, last_modified = validators
        response.headers["ETag"] = etag
        response.headers["Last-Modified"] = http_date(last_modified)
    if per_shopper:
        patch_cache_control(response, private=True, no_cache=True)
        patch_vary_headers(response, ["Cookie"])
    else:
        fresh = settings.CATALOG_API_MAX_AGE if max_age is None else max_age
        patch_cache_control(
            response,
            public=True,
            max_age=fresh,
            stale_while_revalidate=fresh,
            stale_if_error=settings.CATALOG_CACHE_KEEP,
        )
    return response
