"""Who the release suites send: shoppers in a browser, and integrations on the JSON API.

A shopper does what people do in a shop, in proportions docs/load-testing.md
lists (tests/loadtests/test_locustfile.py keeps the two in step): looks at the
home page, browses categories with filters and a page or two, searches
(misspelling a fifth of the time), opens products, fills a cart, and now and
then checks out, carrying the form's CSRF token and idempotency key as a
browser does; a tenth of those click "Place order" twice. Sold out, a changed
price or a full cart are answers a shop gives (409), not failures. A visit
ends after a while and a new visitor arrives with no cookies and a new
connection, so added app processes get their share of the traffic.

Every request is named after its endpoint group (`gates.GROUPS`), which is how
the report and the gates are organised. Anything other than the answers a task
expects is recorded as a failure in the words of `gates.failure_message`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import urlencode, urlsplit

from locust import HttpUser, between, task
from requests import Response
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from loadtests.gates import failure_message
from loadtests.live_catalog import Catalog, CatalogError
from loadtests.pages import form_fields, next_page, product_links

# Gunicorn's own timeout: a request still running after this is stuck, not slow.
TIMEOUT = 30
# A shopper who opened a listing goes on to its next page this often (and again).
NEXT_PAGE = 0.35
# Share of checkouts submitted twice, as impatient people double-click.
DOUBLE_SUBMIT = 0.1
# Product pages opened from links the shopper saw, rather than from outside (an ad, a bookmark).
FOLLOW_LINK = 0.7
# How many revalidation targets an API client remembers.
ETAGS_KEPT = 50

FIRST_NAMES = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Ken", "Margaret", "Tim", "Frances")
LAST_NAMES = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Thompson", "Hamilton")
STREETS = ("High Street", "Station Road", "Mill Lane", "Church Street", "Victoria Road")
CITIES = ("London", "Leeds", "Bristol", "Glasgow", "Cardiff", "Belfast", "Norwich")
POSTCODES = ("N1 9GU", "LS1 4DY", "BS1 5TR", "G2 1DU", "CF10 1EP", "BT1 5GS", "NR2 1NH")

Check = Callable[[Response], str | None]


class BrowserRetry(Retry):
    """Send a GET again, once, when a kept-alive connection was closed under it, as browsers do.

    Gunicorn closes a connection idle for 5 s (`keepalive`); a request sent at
    that very moment finds it gone. A browser retries such a GET without the
    shopper noticing, so the load test does too. A timeout is never retried:
    a slow answer is the shop's, and must count.
    """

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if isinstance(error, ReadTimeoutError):
            raise error.with_traceback(_stacktrace)
        return super().increment(method, url, response, error, _pool, _stacktrace)


RETRY = BrowserRetry(
    total=1, connect=0, read=1, redirect=0, status=0, other=0, allowed_methods=frozenset({"GET"})
)


class StoreUser(HttpUser):
    """What both kinds of visitor share: the live catalog and one way of judging answers."""

    abstract = True
    # Read once per Locust process when the run starts (loadtests/locustfile.py).
    catalog: ClassVar[Catalog | None] = None

    def on_start(self) -> None:
        self.rng = random.Random()
        for adapter in self.client.adapters.values():
            adapter.max_retries = RETRY  # type: ignore[attr-defined]

    @property
    def shop(self) -> Catalog:
        if self.catalog is None:
            raise CatalogError("the catalog was not read: loadtests/locustfile.py reads it at init")
        return self.catalog

    def send(
        self,
        method: str,
        path: str,
        group: str,
        *,
        expect: Collection[int] = (200,),
        check: Check | None = None,
        **kwargs: Any,
    ) -> Response | None:
        """One request named after `group`; the answer if it was one of `expect`, else None.

        Redirects are not followed: where one leads is part of what a task checks.
        """
        with self.client.request(
            method,
            path,
            name=group,
            catch_response=True,
            timeout=TIMEOUT,
            allow_redirects=False,
            **kwargs,
        ) as response:
            problem = failure_message(
                response.status_code,
                response.headers.get("Retry-After"),
                expect,
                getattr(response, "error", None),
            )
            if problem is None and check is not None:
                problem = check(response)
            if problem:
                response.failure(problem)
                return None
            response.success()
            return response


class Shopper(StoreUser):
    """Someone in a browser: cookies, forms, links followed, think times of a few seconds."""

    weight = 9
    wait_time = between(1, 5)

    def on_start(self) -> None:
        super().on_start()
        self.arrive()

    def arrive(self) -> None:
        """A new visitor: no cookies (so an empty cart), a new connection, nothing seen yet.

        And an address of their own, as the proxy in front of the shop reports
        it (X-Forwarded-For): people come from many addresses, and the rate
        limits count per address (the stack trusts the load generator as
        that proxy: docs/load-testing.md).
        """
        self.client.cookies.clear()
        self.client.close()
        self.client.headers["X-Forwarded-For"] = visitor_address(self.rng)
        self.seen: list[str] = []
        # The add-to-cart form of the last product page: (page path, hidden fields).
        self.add_form: tuple[str, dict[str, str]] | None = None
        self.cart_lines = 0

    def look(self, path: str, group: str) -> str | None:
        """GET a page and remember the products it shows, for the next click."""
        answer = self.send("GET", path, group)
        if answer is None:
            return None
        self.seen = product_links(answer.text) or self.seen
        return answer.text

    def post_form(
        self, path: str, group: str, data: dict[str, str], referer: str, **kwargs: Any
    ) -> Response | None:
        """POST as a browser does, with Origin and Referer: the CSRF check wants them on HTTPS."""
        parts = urlsplit(str(self.host))
        origin = f"{parts.scheme}://{parts.netloc}"
        headers = {"Origin": origin, "Referer": origin + referer}
        return self.send("POST", path, group, data=data, headers=headers, **kwargs)

    @task(10)
    def home(self) -> None:
        self.look("/", "home")

    @task(30)
    def browse(self) -> None:
        """A category (now and then every widget), with filters, and maybe a page or two more."""
        base = "/widgets/" if self.rng.random() < 0.1 else self.rng.choice(self.shop.categories)
        filters = self.shop.listing_filters(self.rng)
        self.paginate(base + ("?" + urlencode(filters, doseq=True) if filters else ""), "listing")

    @task(15)
    def search(self) -> None:
        query: dict[str, str | list[str]] = {"q": self.shop.search_term(self.rng)}
        if self.rng.random() < 0.2:
            query.update(self.shop.listing_filters(self.rng))
        self.paginate("/search/?" + urlencode(query, doseq=True), "search")

    def paginate(self, path: str, group: str) -> None:
        page = self.look(path, group)
        for _ in range(2):
            if page is None or self.rng.random() >= NEXT_PAGE:
                return
            following = next_page(page, path)
            if following is None:
                return
            path = following
            page = self.look(path, group)

    @task(25)
    def product(self) -> None:
        self.open_product()

    def open_product(self, *, to_buy: bool = False) -> None:
        """A product page, from a link the shopper saw or from outside; keeps its cart form."""
        if self.seen and not to_buy and self.rng.random() < FOLLOW_LINK:
            path = self.rng.choice(self.seen)
        else:
            choices = (self.shop.in_stock if to_buy else ()) or self.shop.products
            path = self.rng.choice(choices).path
        page = self.look(path, "product")
        fields = form_fields(page, "/cart/add/") if page else None
        self.add_form = (path, fields) if fields else None

    @task(10)
    def add_to_cart(self) -> None:
        if self.add_form is None:
            self.open_product(to_buy=True)
        if self.add_form is None:
            return  # sold out since the catalog was read: the shopper moves on
        path, fields = self.add_form
        self.add_form = None
        quantity = "1" if self.rng.random() < 0.8 else str(self.rng.randint(2, 3))
        answer = self.post_form(
            "/cart/add/", "cart", {**fields, "quantity": quantity}, path, expect=(302, 409)
        )
        # 409: more than the shop has; the product page says so and the shopper moves on.
        if answer is not None and answer.status_code == 302:
            self.cart_lines += 1
            self.send("GET", "/cart/", "cart")

    @task(5)
    def cart(self) -> None:
        self.send("GET", "/cart/", "cart")

    @task(5)
    def checkout(self) -> None:
        """Checkout as a browser submits it; sold out or a changed price (409) ends the visit."""
        if not self.cart_lines:
            self.add_to_cart()
        if not self.cart_lines:
            return
        form = self.send(
            "GET", "/checkout/", "checkout", expect=(200, 302), check=_has_checkout_form
        )
        if form is None or form.status_code == 302:
            # Redirected to the cart: everything in it was withdrawn from sale meanwhile.
            self.cart_lines = 0
            return
        data = {**(form_fields(form.text, "/checkout/") or {}), **customer(self.rng)}
        answer = self.post_form("/checkout/", "checkout", data, "/checkout/", expect=(303, 409))
        if answer is None or answer.status_code == 409:
            self.arrive()
            return
        placed = answer.headers["Location"]
        if self.rng.random() < DOUBLE_SUBMIT:
            self.post_form(
                "/checkout/",
                "checkout",
                data,
                "/checkout/",
                expect=(303,),
                check=lambda again: (
                    None
                    if again.headers.get("Location") == placed
                    else "a resubmitted checkout form placed a second order"
                ),
            )
        self.send("GET", placed, "checkout")
        self.cart_lines = 0

    @task(5)
    def leave(self) -> None:
        """The visit ends (no request); the next task is a new visitor's."""
        self.arrive()


def _has_checkout_form(page: Response) -> str | None:
    if page.status_code == 200 and form_fields(page.text, "/checkout/") is None:
        return "the checkout page has no checkout form"
    return None


def visitor_address(rng: random.Random) -> str:
    """An address in 100.64.0.0/10 (shared address space): never a real client's."""
    return f"100.{rng.randint(64, 127)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def customer(rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {
        "full_name": f"{first} {last}",
        "email": f"{first}.{last}{rng.randint(1, 9999)}@example.com".lower(),
        "phone": "",
        "address_line1": f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
        "address_line2": "",
        "city": rng.choice(CITIES),
        "postcode": rng.choice(POSTCODES),
        "country": "GB",
    }


class ApiClient(StoreUser):
    """An integration (a price comparison site, a marketplace feed): JSON, revalidating."""

    weight = 1
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        super().on_start()
        self.etags: dict[str, str] = {}
        self.client.headers["X-Forwarded-For"] = visitor_address(self.rng)

    def fetch(self, path: str, **kwargs: Any) -> Response | None:
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        answer = self.send("GET", path, "api", headers=headers, **kwargs)
        if answer is not None and (etag := answer.headers.get("ETag")):
            self.etags.pop(path, None)
            self.etags[path] = etag
            if len(self.etags) > ETAGS_KEPT:
                del self.etags[next(iter(self.etags))]
        return answer

    @task(5)
    def widgets(self) -> None:
        """A filtered page of widgets, and sometimes the next one, as a feed importer pages."""
        query = {
            "page_size": str(self.rng.choice((24, 50, 100))),
            **self.shop.listing_filters(self.rng),
        }
        answer = self.fetch("/api/widgets/?" + urlencode(query, doseq=True))
        if answer is not None and self.rng.random() < NEXT_PAGE and (link := answer.json()["next"]):
            # The link is absolute as the app sees itself; behind a proxy only the path is ours.
            following = urlsplit(link)
            self.fetch(f"{following.path}?{following.query}")

    @task(4)
    def widget(self) -> None:
        self.fetch("/api" + self.rng.choice(self.shop.products).path)

    @task(1)
    def categories(self) -> None:
        self.fetch("/api/categories/")

    @task(3)
    def revalidate(self) -> None:
        """Ask again with If-None-Match: 304 unless stock or prices moved meanwhile."""
        if not self.etags:
            self.categories()
            return
        path, etag = self.rng.choice(list(self.etags.items()))
        self.fetch(path, expect=(200, 304), headers={"If-None-Match": etag})
