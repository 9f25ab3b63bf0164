"""Nothing a stranger sends makes a 5xx: generated input thrown at every route the site has.

Routes come from the URL resolver, so a route added later is swept too.
Each route gets GET, HEAD and POST with generated query strings (repeated
keys, non-ASCII digits, NaN and Infinity, NUL, broken percent-encoding, bytes
that are not UTF-8), form bodies, and the headers caches and sessions read:
If-None-Match, If-Modified-Since, Cookie, Accept. Hypothesis keeps the
number of examples bounded (SWEEP_EXAMPLES per route) so `make test` stays
fast; set SWEEP_EXAMPLES higher to search harder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from catalog.models import Widget
from tests.catalog.conftest import MakeWidgets, Shop

EXAMPLES = int(os.environ.get("SWEEP_EXAMPLES", "30"))

# Parameter names the shop reads, so generated queries reach real parsing code.
KNOWN_KEYS = [
    "q", "page", "page_size", "sort", "category", "colour", "size", "material",
    "min_price", "max_price", "in_stock", "verbose", "seconds", "next",
    "widget", "quantity", "idempotency_key", "expected_total", "email", "country",
]  # fmt: skip
NASTY = [
    "", "0", "-1", "1e309", "99999999999999999999999", "²", "\u0663", "\uff11", "NaN", "nan",
    "Infinity", "-Infinity", "inf", "1.5", "0x10", " 1", "1 ", "\x00", "a\x00b", "%00",
    "%C2%B2", "%FF%FE", "%", "%zz", "true", "on", "🙂", "'\"<script>", "a" * 600,
    "00000000-0000-0000-0000-000000000000", "red", "price", "-price", "brass",
]  # fmt: skip
COOKIES = [
    "", "sessionid=garbage", "sessionid=\x00", "csrftoken=x; sessionid=a:b:c",
    "messages=\"\\\"broken", "sessionid=" + "A" * 5000, "=;=;", "sessionid=%FF",
]  # fmt: skip
DATES = [
    "", "garbage", "Thu, 01 Jan 1970 00:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT", "-1", "Mon, 32 Foo 2020 99:99:99 GMT",
]  # fmt: skip
ETAGS = ["", "*", '"x"', 'W/"x"', '"', "W/", ",,,", '"a", W/"b"', "\x00"]

values = st.one_of(st.sampled_from(NASTY), st.sampled_from(NASTY), st.text(max_size=20))
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=8))


def encode(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='%')}={quote(v, safe='%')}" for k, v in pairs)


raw_query = st.lists(st.tuples(keys, values), max_size=6).map(encode)
# Every parameter the shop reads, each present or not, once or repeated.
known_query = st.fixed_dictionaries(
    {}, optional={key: st.lists(values, min_size=1, max_size=2) for key in KNOWN_KEYS}
).map(lambda params: encode([(k, v) for k, vs in params.items() for v in vs]))
broken_query = st.binary(max_size=40).map(lambda raw: raw.decode("latin-1"))
queries = st.one_of(known_query, known_query, raw_query, broken_query)
bodies = st.one_of(
    raw_query.map(lambda text: text.encode()),
    st.binary(max_size=80),
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "HTTP_IF_NONE_MATCH": st.sampled_from(ETAGS),
        "HTTP_IF_MODIFIED_SINCE": st.sampled_from(DATES),
        "HTTP_COOKIE": st.sampled_from(COOKIES),
        "HTTP_ACCEPT": st.sampled_from(["application/json", "text/html", "*/*", "x/y;q=oops"]),
        "HTTP_X_REQUEST_ID": st.sampled_from(["", "a b", "\x00", "x" * 300]),
        "HTTP_X_FORWARDED_FOR": st.sampled_from(["", "garbage", "1.2.3.4, ::1, x"]),
    },
)


def routes() -> Iterator[str]:
    """Every URL pattern, as a regex-free template: `widgets/<slug:slug>/`."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[str]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    return walk(get_resolver().url_patterns, "")


ROUTES = sorted(set(routes()))
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def fill(route: str, widget: Widget, shop: Shop, data: st.DataObject) -> str:
    """A concrete path: real slugs and paths half the time, generated text the other half."""

    def value(match: re.Match[str]) -> str:
        kind, name = match.group(1) or "str", match.group(2)
        real = {
            "slug": widget.slug,
            "path": shop.chain.path,
            "int": str(widget.pk),
        }.get(kind, widget.slug if name == "slug" else "WW-00000-00000")
        generated = data.draw(st.sampled_from([*NASTY[:12], "x", "a/b", "..", "%2e%2e"]))
        return real if data.draw(st.booleans()) else quote(generated, safe="/%")

    if route.startswith("^") or "(?P" in route:  # a regex route (the admin's): use it literally
        route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route).strip("^$")
    return "/" + CONVERTER.sub(value, route)


@pytest.fixture
def sweep_setup(shop: Shop, make_widgets: MakeWidgets, settings: Settings) -> tuple[Widget, Shop]:
    # The limits have their own tests; here every example should reach the view.
    settings.RATE_LIMITS_ENABLED = False
    [widget] = make_widgets(1, name="Brass Sprocket", stock=10)
    return widget, shop


@pytest.mark.parametrize("route", ROUTES)
def test_no_input_makes_a_5xx(route: str, sweep_setup: tuple[Widget, Shop]) -> None:
    widget, shop = sweep_setup
    client = Client(raise_request_exception=False)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        data=st.data(),
        method=st.sampled_from(["GET", "HEAD", "POST"]),
        query=queries,
        body=bodies,
        extra=headers,
    )
    def sweep(
        data: st.DataObject, method: str, query: str, body: bytes, extra: dict[str, Any]
    ) -> None:
        path = fill(route, widget, shop, data)
        response = client.generic(
            method,
            path,
            data=body if method == "POST" else b"",
            content_type="application/x-www-form-urlencoded",
            QUERY_STRING=query,
            **extra,
        )
        assert response.status_code < 500, (method, path, query, body, extra, response.status_code)

    sweep()


# The routes whose query strings the shop parses, each parameter it reads with
# every nasty value in turn: the sweep's random search, made exhaustive where
# it matters most.
FILTERS = ["page", "sort", "category", "colour", "size", "material", "min_price", "max_price"]
PARSED = {
    "/widgets/": [*FILTERS, "in_stock"],
    "/search/": [*FILTERS, "q"],
    "/api/widgets/": [*FILTERS, "in_stock", "q", "page_size"],
    "/api/categories/": ["page"],
    "/readyz": ["verbose", "scope"],
}


@pytest.mark.parametrize("path", PARSED)
def test_every_parameter_takes_every_nasty_value(
    path: str, sweep_setup: tuple[Widget, Shop]
) -> None:
    client = Client(raise_request_exception=False)
    failures = [
        (key, value, status)
        for key in PARSED[path]
        for value in [*NASTY, "1&" + key + "=²"]
        if (status := client.get(path, QUERY_STRING=encode([(key, value)])).status_code) >= 500
    ]

    assert failures == []


POSTED = {
    "/cart/add/": ["widget", "quantity"],
    "/cart/update/": ["widget", "quantity"],
    "/cart/remove/": ["widget"],
    "/checkout/": ["idempotency_key", "expected_total", "email", "country", "full_name"],
}


@pytest.mark.parametrize("path", POSTED)
def test_every_form_field_takes_every_nasty_value(
    path: str, sweep_setup: tuple[Widget, Shop]
) -> None:
    widget, _ = sweep_setup
    client = Client(raise_request_exception=False)
    client.post("/cart/add/", {"widget": widget.pk, "quantity": 1})
    valid = {"widget": str(widget.pk), "quantity": "1"}
    failures = [
        (key, value, status)
        for key in POSTED[path]
        for value in NASTY
        if (
            status := client.post(
                path,
                encode([*((k, v) for k, v in valid.items() if k != key), (key, value)]),
                content_type="application/x-www-form-urlencoded",
            ).status_code
        )
        >= 500
    ]

    assert failures == []
