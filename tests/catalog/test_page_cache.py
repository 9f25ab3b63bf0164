"""The catalog's cached pages on the suite's real Valkey/Redis: hits, keys, freshness, shoppers.

Every catalog answer goes through catalog/caching/pages.py. A hit costs no
query; the key is the canonical query string, so what means one listing is
one copy; a committed change shows on the next request; and a shared page
never carries anything of the shopper it was first rendered for.
"""

from __future__ import annotations

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.db import connections, transaction
from django.test import Client, override_settings
from prometheus_client import REGISTRY
from pytest_django import DjangoAssertNumQueries, DjangoCaptureOnCommitCallbacks

from catalog.caching.pages import Page
from catalog.caching.version import catalog_version
from catalog.models import Order, Widget
from catalog.services.checkout import Customer, place_order
from catalog.services.orders import change_status
from devtools.localcache import CacheServer
from tests.catalog.conftest import MakeWidgets
from tests.catalog.shopping import checkout_form

PAGES = [
    "/",
    "/widgets/",
    "/c/sprockets/",
    "/search/?q=sprocket",
    "WIDGET",
    "IMAGE",
    "/api/widgets/",
    "/api/categories/",
    "API_WIDGET",
]
STORED = "widgetworld; fwd=miss; stored"
HIT = "widgetworld; hit"
SHOPPERS = 20
BUYER = Customer("Ada Lovelace", "ada@example.com", "12 Analytical Row", "London", "N1 9GU", "GB")


def url_for(path: str, widget: Widget) -> str:
    return {
        "WIDGET": widget.get_absolute_url(),
        "IMAGE": widget.get_image_url(),
        "API_WIDGET": f"/api/widgets/{widget.slug}/",
    }.get(path, path)


def csrf_token(page: bytes) -> str:
    found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found is not None, "no CSRF token on the page"
    return found.group(1).decode()


# -- hits and misses ---------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_a_page_is_rendered_once_then_served_without_a_query(
    client: Client,
    make_widgets: MakeWidgets,
    django_assert_num_queries: DjangoAssertNumQueries,
    path: str,
) -> None:
    [widget] = make_widgets(1, name="Brass Sprocket")
    url = url_for(path, widget)
    first = client.get(url)

    with django_assert_num_queries(0):
        second = client.get(url)

    assert (first.status_code, first["Cache-Status"], second["Cache-Status"]) == (
        200,
        STORED,
        HIT,
    )


def test_a_hit_is_the_page_the_miss_rendered(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(3)
    first = client.get("/widgets/")

    assert client.get("/widgets/").content == first.content


def test_query_strings_that_mean_the_same_listing_share_one_copy(
    client: Client, make_widgets: MakeWidgets
) -> None:
    make_widgets(3, colour="red")
    client.get("/widgets/?colour=red&colour=blue&min_price=5")

    again = client.get("/widgets/?min_price=5.00&colour=blue&colour=red&utm_source=newsletter")

    assert again["Cache-Status"] == HIT


def test_the_search_box_is_not_part_of_a_listing_s_key(
    client: Client, make_widgets: MakeWidgets
) -> None:
    """Only the search page searches: elsewhere `q` is an unknown parameter, dropped."""
    make_widgets(1)
    client.get("/widgets/")

    assert client.get("/widgets/?q=anything+at+all")["Cache-Status"] == HIT


def test_a_long_search_is_cached_under_a_short_key(
    client: Client, make_widgets: MakeWidgets
) -> None:
    """Django warns past 250 characters (an error in this suite); our keys are hashes."""
    make_widgets(1, name="Brass Sprocket")
    terms = ("brass sprocket " * 14)[:200]
    client.get("/search/", {"q": terms, "colour": ["red", "blue", "green"]})

    again = client.get("/search/", {"q": terms, "colour": ["red", "blue", "green"]})

    assert again["Cache-Status"] == HIT


def test_keys_have_one_length_whatever_the_query() -> None:
    short = Page("search", "/search/", (("q", "a"),))
    long = Page("search", "/search/", (("q", "x" * 200), *[("colour", f"c{i}") for i in range(9)]))

    assert (len(short.key) == len(long.key) <= 64, short.key != long.key) == (True, True)


def test_bad_query_strings_are_answered_without_being_cached(
    client: Client, make_widgets: MakeWidgets
) -> None:
    """Garbage cannot grow the cache: a 400 never reaches it."""
    make_widgets(1)

    answers = [client.get("/widgets/?page=abc&colour=mauve") for _ in range(2)]

    assert [(a.status_code, a.has_header("Cache-Status")) for a in answers] == [(400, False)] * 2


def test_a_page_past_the_end_is_rendered_each_time_never_stored(
    client: Client, make_widgets: MakeWidgets
) -> None:
    make_widgets(1)

    answers = [client.get("/widgets/?page=9") for _ in range(2)]

    assert [(a.status_code, a["Cache-Status"]) for a in answers] == [
        (404, "widgetworld; fwd=miss")
    ] * 2


def test_copies_keyed_by_typed_input_are_kept_only_while_they_may_be_fresh(
    client: Client, make_widgets: MakeWidgets, cache_server: CacheServer
) -> None:
    """Search terms and prices have no end: their copies must not crowd out the last good ones."""
    make_widgets(1, name="Brass Sprocket")
    pages = {
        "/widgets/?colour=red": Page("listing", "/widgets/", (("colour", "red"),)),
        "/widgets/?min_price=3.17": Page("listing", "/widgets/", (("min_price", "3.17"),)),
        "/search/?q=brass": Page("search", "/search/", (("q", "brass"),)),
    }
    server = redis.Redis.from_url(cache_server.url)
    for url in pages:
        client.get(url)

    def kept(page: Page) -> str:
        seconds = server.ttl(caches["default"].make_key(page.key))
        if seconds <= 0:
            return "not kept"
        return "while fresh" if seconds <= settings.CATALOG_CACHE_FRESH else "for hours"

    assert {url: kept(page) for url, page in pages.items()} == {
        "/widgets/?colour=red": "for hours",
        "/widgets/?min_price=3.17": "while fresh",
        "/search/?q=brass": "while fresh",
    }


# -- freshness -----------------------------------------------------------------------------


def test_an_admin_edit_shows_on_the_next_request(
    admin_client: Client,
    client: Client,
    make_widgets: MakeWidgets,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    [widget] = make_widgets(1, price=Decimal("10.00"))
    client.get(widget.get_absolute_url())
    change = {
        field: getattr(widget, field)
        for field in ("name", "slug", "sku", "description", "stock", "colour", "size", "material")
    }
    change.update(category=widget.category_id, price="12.50", is_active="on")

    with django_capture_on_commit_callbacks(execute=True):
        saved = admin_client.post(f"/admin/catalog/widget/{widget.pk}/change/", change)
    page = client.get(widget.get_absolute_url())

    assert (saved.status_code, "\u00a312.50" in page.content.decode(), page["Cache-Status"]) == (
        302,
        True,
        STORED,
    )


def test_an_order_s_stock_change_shows_on_the_product_page(
    client: Client,
    make_widgets: MakeWidgets,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    [widget] = make_widgets(1, stock=5)
    client.get(widget.get_absolute_url())
    client.post("/cart/add/", {"widget": widget.id, "quantity": 2})

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/checkout/", checkout_form(client))
    page = client.get(widget.get_absolute_url())

    assert b"Only 3 left" in page.content


@pytest.mark.django_db
def test_without_replicas_publishing_a_change_asks_the_database_nothing(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    """The primary's WAL position is recorded with each version only for replicas to replay."""
    with django_assert_num_queries(0):
        catalog_version().bump()


def test_a_cancelled_order_s_stock_shows_again_on_the_product_page(
    client: Client,
    make_widgets: MakeWidgets,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """Cancelling returns stock with QuerySet.update(), which sends no signal."""
    [widget] = make_widgets(1, stock=5)
    order = place_order(key=uuid.uuid4(), customer=BUYER, lines={widget.pk: 2}).order
    client.get(widget.get_absolute_url())

    with django_capture_on_commit_callbacks(execute=True):
        change_status(order.pk, Order.Status.CANCELLED)
    page = client.get(widget.get_absolute_url())

    assert b"Only 5 left" in page.content


def test_a_change_rolled_back_leaves_the_cached_page_current(
    client: Client,
    make_widgets: MakeWidgets,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """The version moves on commit only: a failed write invalidates nothing."""
    [widget] = make_widgets(1)
    client.get(widget.get_absolute_url())

    def failing_write() -> None:
        with transaction.atomic():
            widget.price = Decimal("99.00")
            widget.save()
            raise RuntimeError("the write fails")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        failing_write()

    assert client.get(widget.get_absolute_url())["Cache-Status"] == HIT


# -- no stampede --------------------------------------------------------------------------


def renders(page: str) -> float:
    return REGISTRY.get_sample_value("widgetworld_page_render_seconds_count", {"page": page}) or 0


@pytest.mark.django_db(transaction=True)
@override_settings(CATALOG_CACHE_WAIT_MS=30_000)
def test_a_cold_listing_asked_for_by_many_shoppers_at_once_is_rendered_once(
    make_widgets: MakeWidgets,
) -> None:
    """Real threads, each a shopper with its own connection: one render, the rest wait for it."""
    make_widgets(30)
    before = (renders("listing"), renders("category_tree"))
    start = threading.Barrier(SHOPPERS)

    def shop(_: int) -> int:
        start.wait(timeout=30)
        try:
            return Client().get("/widgets/?sort=price").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(SHOPPERS) as pool:
        statuses = list(pool.map(shop, range(SHOPPERS)))

    after = (renders("listing"), renders("category_tree"))
    assert (statuses, after[0] - before[0], after[1] - before[1]) == ([200] * SHOPPERS, 1, 1)


# -- nothing of one shopper is shown to another --------------------------------------------


@pytest.fixture
def alice() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def bob() -> Client:
    return Client(enforce_csrf_checks=True)


def test_a_shared_page_carries_each_shopper_s_own_cart_messages_and_csrf_token(
    alice: Client, bob: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, stock=10, name="Brass Sprocket")
    url = widget.get_absolute_url()
    first_token = csrf_token(alice.get(url).content)
    added = alice.post(
        "/cart/add/", {"widget": widget.id, "quantity": 2, "csrfmiddlewaretoken": first_token}
    )
    alices, bobs = alice.get(url), bob.get(url)
    with_alices_token = bob.post(
        "/cart/add/",
        {"widget": widget.id, "quantity": 1, "csrfmiddlewaretoken": csrf_token(alices.content)},
    )
    with_his_own = bob.post(
        "/cart/add/",
        {"widget": widget.id, "quantity": 1, "csrfmiddlewaretoken": csrf_token(bobs.content)},
    )

    def shows(page: bytes) -> tuple[bool, bool, bool]:
        return b"already in" in page, b'class="badge"' in page, b"to your cart" in page

    assert {
        "answers": (added.status_code, alices["Cache-Status"], bobs["Cache-Status"]),
        "alice sees her cart and message": shows(alices.content),
        "bob sees none of it": shows(bobs.content),
        "bob posts with": (with_alices_token.status_code, with_his_own.status_code),
    } == {
        "answers": (302, HIT, HIT),
        "alice sees her cart and message": (True, True, True),
        "bob sees none of it": (False, False, False),
        "bob posts with": (403, 302),
    }


def test_what_the_cache_keeps_holds_no_csrf_token_nor_cart(
    client: Client, make_widgets: MakeWidgets, cache_server: CacheServer
) -> None:
    """The stored copy itself: rendered without the request, per-shopper parts are holes."""
    [widget] = make_widgets(1, stock=10)
    client.post("/cart/add/", {"widget": widget.id, "quantity": 3})
    client.get(widget.get_absolute_url())
    server = redis.Redis.from_url(cache_server.url, decode_responses=False)
    stored = b"".join(
        value
        for key in server.scan_iter("*page:product:*")
        if isinstance(value := server.get(key), bytes)
    )

    assert (len(stored) > 1000, b"csrfmiddlewaretoken" in stored, b"already in" in stored) == (
        True,
        False,
        False,
    )


# -- the cache server stopped ----------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_as_if_nothing_were_cached_with_the_cache_server_stopped(
    client: Client, make_widgets: MakeWidgets, cache_stopped: None, path: str
) -> None:
    [widget] = make_widgets(1, name="Brass Sprocket")

    answers = [client.get(url_for(path, widget)) for _ in range(2)]

    assert [(a.status_code, a["Cache-Status"]) for a in answers] == [
        (200, "widgetworld; fwd=miss; detail=cache-unavailable")
    ] * 2


def test_the_cart_and_checkout_work_with_the_cache_server_stopped(
    client: Client, make_widgets: MakeWidgets, cache_stopped: None
) -> None:
    [widget] = make_widgets(1, stock=4)
    client.post("/cart/add/", {"widget": widget.id, "quantity": 1})

    placed = client.post("/checkout/", checkout_form(client))

    assert placed.status_code == 303
