"""The database really stopped, under gunicorn: the shop answers from its last good copies.

One outage for the module, in order. A shopper browses, fills a cart and
opens checkout; another places an order, so the catalog version moves on and
no copy is current any more; then PostgreSQL is stopped. Pages seen before
answer 200 from the last good copy, with the banner, `Age` and
`Cache-Status`; a page never seen is the friendly 503; the cart keeps
working; checkout is a 503 that keeps what was typed and places nothing.
Then PostgreSQL starts again and pages are fresh once more.

A private PostgreSQL and cache server: the suite's cache is emptied after
every test, and this outage spans several.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from devtools.databases import migrated_database
from devtools.localdb import PostgresCluster
from devtools.servers import Gunicorn, wait_for
from tests.conftest import MakeCacheServer, MakePostgres

pytestmark = pytest.mark.slow

TIMEOUT = 10
# Enough for a listing page to render and be copied.
SMALL_CATALOG = ("--widgets", "5", "--categories", "2")
STALE = "widgetworld; hit; detail=stale-database-unavailable"
BANNER = "checkout is paused, your cart is safe"
DETAILS = {
    "full_name": "Ada Lovelace",
    "email": "ada@example.com",
    "address_line1": "12 Analytical Row",
    "city": "London",
    "postcode": "N1 9GU",
    "country": "GB",
}


class Shopper:
    """A browser: cookies kept, CSRF token sent back, redirects not followed."""

    def __init__(self, server: Gunicorn) -> None:
        self.server = server
        self.session = requests.Session()

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.server.url + path, timeout=TIMEOUT, allow_redirects=False)

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        return self.session.post(
            self.server.url + path,
            data={**data, "csrfmiddlewaretoken": self.session.cookies.get("csrftoken", "")},
            timeout=TIMEOUT,
            allow_redirects=False,
        )

    def checkout_form(self) -> dict[str, str]:
        """The details and the hidden fields the checkout page's form would send."""
        page = self.get("/checkout/").text
        hidden = re.findall(r'name="(idempotency_key|expected_total)"[^>]*value="([^"]*)"', page)
        return {**DETAILS, **dict(hidden)}


@dataclass
class Outage:
    cluster: PostgresCluster
    server: Gunicorn
    shopper: Shopper
    seen: list[str]
    # (id, product page) of: a widget in the cart, one viewed only, one never viewed.
    in_cart: tuple[str, str]
    viewed: tuple[str, str]
    never_seen: tuple[str, str]
    checkout: dict[str, str]
    # Rendered after the catalog last changed: current when the database went.
    current: str


def widgets(cluster: PostgresCluster, count: int) -> list[tuple[str, str]]:
    with cluster.admin_connect("outage") as conn:
        rows = conn.execute(
            "SELECT id, slug FROM catalog_widget"
            " WHERE is_active AND stock >= 5 ORDER BY id LIMIT %s",
            [count],
        ).fetchall()
    return [(str(pk), f"/widgets/{slug}/") for pk, slug in rows]


def orders(cluster: PostgresCluster) -> int:
    with cluster.admin_connect("outage") as conn:
        row = conn.execute("SELECT count(*) FROM catalog_order").fetchone()
    return int(row[0]) if row else -1


@pytest.fixture(scope="module")
def outage(
    make_postgres: MakePostgres,
    make_cache_server: MakeCacheServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Outage]:
    cluster = make_postgres()
    url = migrated_database(
        cluster, "outage", seed=("--widgets", "60", "--categories", "6", "--seed", "3")
    )
    log = tmp_path_factory.mktemp("outage") / "gunicorn.log"
    server = Gunicorn(
        url, Path(log), CACHE_URL=make_cache_server().url, WEB_CONCURRENCY="1", WEB_THREADS="4"
    )
    try:
        server.wait_until_serving()
        in_cart, viewed, ordered, never_seen = widgets(cluster, 4)
        shopper = Shopper(server)
        seen = ["/", "/widgets/", "/widgets/?sort=price", in_cart[1], viewed[1], "/api/categories/"]
        for path in seen:
            assert shopper.get(path).status_code == 200, path
        assert (
            shopper.post("/cart/add/", {"widget": in_cart[0], "quantity": "1"}).status_code == 302
        )
        checkout = shopper.checkout_form()

        other = Shopper(server)
        other.get(ordered[1])
        other.post("/cart/add/", {"widget": ordered[0], "quantity": "1"})
        placed = other.post("/checkout/", other.checkout_form())
        assert placed.status_code == 303, server.tail()
        current = "/widgets/?sort=name"
        assert shopper.get(current).headers["Cache-Status"] == "widgetworld; fwd=miss; stored"

        cluster.stop()
        yield Outage(cluster, server, shopper, seen, in_cart, viewed, never_seen, checkout, current)
    finally:
        server.stop()
        if not cluster.is_running():
            cluster.start()


def test_pages_seen_before_answer_200_from_the_last_good_copy(outage: Outage) -> None:
    answers = {path: outage.shopper.get(path) for path in outage.seen}

    assert {
        path: (a.status_code, a.headers.get("Cache-Status"), "Age" in a.headers)
        for path, a in answers.items()
    } == {path: (200, STALE, True) for path in outage.seen}


def test_while_the_breaker_is_open_even_a_current_copy_is_answered_as_stale(
    outage: Outage,
) -> None:
    """The pool's breaker knows the database is down: a hit must not hide the outage."""
    outage.shopper.get(outage.seen[0])  # a stale copy: its render fails and opens the breaker

    answer = outage.shopper.get(outage.current)

    assert (answer.status_code, answer.headers.get("Cache-Status"), BANNER in answer.text) == (
        200,
        STALE,
        True,
    )


def test_a_stale_page_says_so_in_a_banner_screen_readers_announce(outage: Outage) -> None:
    page = outage.shopper.get("/widgets/").text

    banner = re.search(r'<div class="stale-banner" role="status">(.*?)</div>', page, re.S)
    said = banner.group(1) if banner else ""
    assert (BANNER in said, "Prices and stock as of" in said) == (True, True)


def test_the_api_answers_from_the_last_good_copy_with_rfc_5861_directives(
    outage: Outage,
) -> None:
    answer = outage.shopper.get("/api/categories/")

    assert (answer.status_code, "stale-if-error" in answer.headers["Cache-Control"]) == (
        200,
        True,
    )


def test_a_page_never_seen_is_the_friendly_503_with_retry_after_and_the_status_page(
    outage: Outage,
) -> None:
    answer = outage.shopper.get(outage.never_seen[1])

    assert (
        answer.status_code,
        answer.headers.get("Retry-After"),
        "stock room" in answer.text,
        'href="/status/"' in answer.text,
    ) == (503, "5", True, True)


def test_the_cart_shows_adds_changes_and_removes_while_the_database_is_down(
    outage: Outage,
) -> None:
    shopper = outage.shopper
    shown = shopper.get("/cart/")
    added = shopper.post("/cart/add/", {"widget": outage.viewed[0], "quantity": "2"})
    changed = shopper.post("/cart/update/", {"widget": outage.in_cart[0], "quantity": "3"})
    removed = shopper.post("/cart/remove/", {"widget": outage.viewed[0]})
    after = shopper.get("/cart/")

    assert {
        "statuses": [a.status_code for a in (shown, added, changed, removed, after)],
        "banner": BANNER in after.text,
        "quantity": re.findall(r'name="quantity"[^>]*value="(\d+)"', after.text),
    } == {"statuses": [200, 302, 302, 302, 200], "banner": True, "quantity": ["3"]}


def test_checkout_is_a_503_that_keeps_what_was_typed_and_places_nothing(outage: Outage) -> None:
    answer = outage.shopper.post("/checkout/", outage.checkout)

    assert (
        answer.status_code,
        answer.headers.get("Retry-After"),
        "has not been placed" in answer.text,
        'value="12 Analytical Row"' in answer.text,
        outage.checkout["idempotency_key"] in answer.text,
    ) == (503, "5", True, True, True)


def test_stale_answers_are_counted_by_reason(outage: Outage) -> None:
    metrics = outage.server.metrics()

    counted = re.search(
        r'^widgetworld_stale_responses_total\{reason="database_unavailable"\} (\S+)$',
        metrics,
        re.M,
    )
    assert float(counted.group(1) if counted else 0) >= len(outage.seen)


def test_once_the_database_is_back_pages_are_fresh_and_the_cart_intact(outage: Outage) -> None:
    """Runs last: it ends the outage. The shopper's interrupted checkout placed nothing."""
    outage.cluster.start()

    def fresh_listing() -> str:
        """The listing's HTML once it is no longer a stale copy, else ""."""
        answer = outage.shopper.get("/widgets/")
        status = answer.headers.get("Cache-Status", "stale")
        return answer.text if answer.status_code == 200 and "stale" not in status else ""

    fresh = wait_for("a fresh listing", fresh_listing, timeout=30)
    cart = outage.shopper.get("/cart/")

    assert (
        BANNER in fresh,
        outage.in_cart[0] in re.findall(r'name="widget" value="(\d+)"', cart.text),
        orders(outage.cluster),
    ) == (False, True, 1)


def test_a_thread_whose_query_died_with_the_database_still_serves_cached_pages(
    make_postgres: MakePostgres,
    make_cache_server: MakeCacheServer,
    tmp_path: Path,
) -> None:
    cluster = make_postgres()
    url = migrated_database(cluster, "outage", seed=SMALL_CATALOG)
    server = Gunicorn(
        url,
        tmp_path / "gunicorn.log",
        CACHE_URL=make_cache_server().url,
        WEB_CONCURRENCY="1",
        WEB_THREADS="1",
        WIDGETWORLD_CHAOS_ENDPOINTS="true",
    )
    try:
        server.wait_until_serving()
        assert requests.get(server.url + "/widgets/", timeout=TIMEOUT).status_code == 200
        with ThreadPoolExecutor(1) as pool:
            # A query in flight when PostgreSQL stops: its error marks the thread's connection.
            held = pool.submit(requests.post, server.url + "/_chaos/hold?seconds=5", timeout=30)
            wait_for("the query to start", lambda: sleeping(cluster), timeout=10)
            cluster.stop()
            held.result(timeout=30)
        answer = requests.get(server.url + "/widgets/", timeout=TIMEOUT)
    finally:
        server.stop()
        if not cluster.is_running():
            cluster.start()

    assert (answer.status_code, answer.headers.get("Cache-Status")) == (200, STALE)


def sleeping(cluster: PostgresCluster) -> bool:
    with cluster.admin_connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%%'"
        ).fetchone()
    return bool(row and row[0])


def test_with_the_cache_s_breaker_open_a_page_seen_before_still_answers_its_last_good_copy(
    make_postgres: MakePostgres,
    make_cache_server: MakeCacheServer,
    tmp_path: Path,
) -> None:
    """A loaded cache misses its everyday timeout and the worker's cache breaker opens.

    With the database down too, the breaker must not stand between the shopper
    and the last good copy: it is read past the breaker, and a 503 is not.
    """
    cluster = make_postgres()
    url = migrated_database(cluster, "outage", seed=SMALL_CATALOG)
    cache = make_cache_server()
    server = Gunicorn(
        url,
        tmp_path / "gunicorn.log",
        CACHE_URL=cache.url,
        WEB_CONCURRENCY="1",
        WEB_THREADS="1",
        # Once open, the cache's breaker stays open for the rest of the test.
        CACHE_RETRY_INTERVAL="3600",
    )
    try:
        server.wait_until_serving()
        assert requests.get(server.url + "/widgets/", timeout=TIMEOUT).status_code == 200
        cluster.stop()
        with cache.paused():
            wait_for("the cache's breaker to open", lambda: cache_breaker_opened(server), 60)
        answer = requests.get(server.url + "/widgets/", timeout=TIMEOUT)
        breaker = cache_breaker(server)
    finally:
        server.stop()
        if not cluster.is_running():
            cluster.start()

    assert (answer.status_code, answer.headers.get("Cache-Status"), breaker) == (200, STALE, 1.0)


def cache_breaker(server: Gunicorn) -> float:
    found = re.search(
        r'^widgetworld_cache_breaker_open\{alias="default"\} (\S+)$', server.metrics(), re.M
    )
    return float(found.group(1)) if found else 0.0


def cache_breaker_opened(server: Gunicorn) -> bool:
    """Browse once (each cache call times out), then: is the worker's cache breaker open?"""
    requests.get(server.url + "/widgets/", timeout=TIMEOUT)
    return cache_breaker(server) == 1.0
