"""Rate limits: a script that loops over checkout is stopped, shoppers are not, nothing 500s."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import pytest
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.test import Client, RequestFactory
from prometheus_client import REGISTRY
from pytest_django.fixtures import Settings

from catalog.factories import CategoryFactory, WidgetFactory
from catalog.models import Widget
from core.ratelimit.limiter import limit
from core.ratelimit.rates import Rate
from tests.catalog.shopping import checkout_details

pytestmark = pytest.mark.django_db

SCRIPT = "203.0.113.66"
SHOPPER = "198.51.100.7"


def limits(settings: Settings, scope: str, **rates: str) -> None:
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        scope: {key: Rate.parse(rate) for key, rate in rates.items()},
    }


def refused(scope: str, key: str) -> float:
    return (
        REGISTRY.get_sample_value("widgetworld_ratelimited_total", {"scope": scope, "key": key})
        or 0.0
    )


def buy(widget: Widget, quantity: int, address: str) -> Any:
    """A fresh browser (no cookies) adds `quantity` and checks out, as a looping script does."""
    client = Client(REMOTE_ADDR=address)
    client.post("/cart/add/", {"widget": widget.pk, "quantity": quantity})
    form = client.get("/checkout/").context["form"]
    return client.post(
        "/checkout/",
        {
            **checkout_details(),
            "idempotency_key": str(form["idempotency_key"].value()),
            "expected_total": str(form["expected_total"].value()),
        },
    )


@pytest.mark.parametrize(
    ("text", "rate"),
    [("20/10m", Rate(20, 600)), ("300/m", Rate(300, 60)), ("500/h", Rate(500, 3600))],
)
def test_rates_read_as_written(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["", "0/m", "10", "10/w", "\u0663/m", "NaN/m"])
def test_a_rate_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected a rate|positive"):
        Rate.parse(text)


def test_a_checkout_loop_from_one_address_is_stopped_and_stock_stays(settings: Settings) -> None:
    limits(settings, "order-units", session="200/h", address="20/h")
    widget = WidgetFactory.create(category=CategoryFactory.create(), stock=100)

    answers = [buy(widget, 5, SCRIPT).status_code for _ in range(10)]
    shopper = buy(widget, 5, SHOPPER)

    widget.refresh_from_db()
    assert (answers.count(303), answers.count(429), shopper.status_code, widget.stock) == (
        4,
        6,
        303,
        75,
    )


def test_a_refused_checkout_says_when_to_come_back(settings: Settings) -> None:
    limits(settings, "order-units", address="5/h")
    widget = WidgetFactory.create(category=CategoryFactory.create(), stock=100)
    buy(widget, 5, SCRIPT)

    response = buy(widget, 1, SCRIPT)

    assert (
        response.status_code,
        0 < int(response["Retry-After"]) <= 3600,
        b"Please try again" in response.content,
    ) == (429, True, True)


def test_checkout_attempts_are_limited_per_browser(settings: Settings) -> None:
    limits(settings, "checkout", session="3/10m", address="100/10m")
    client = Client()

    answers = [
        client.post("/checkout/", {}, REMOTE_ADDR=f"192.0.2.{i}").status_code for i in range(4)
    ]

    assert answers == [400, 400, 400, 429]


def test_refusals_are_counted(settings: Settings) -> None:
    limits(settings, "checkout", session="1/10m")
    client = Client()
    before = refused("checkout", "session")

    client.post("/checkout/", {})
    client.post("/checkout/", {})

    assert refused("checkout", "session") == before + 1


def test_add_to_cart_is_limited_per_address(settings: Settings) -> None:
    limits(settings, "cart", session="100/10m", address="3/10m")
    widget = WidgetFactory.create(category=CategoryFactory.create(), stock=100)

    answers = [
        Client(REMOTE_ADDR=SCRIPT).post("/cart/add/", {"widget": widget.pk, "quantity": 1})
        for _ in range(4)
    ]

    assert [answer.status_code for answer in answers] == [302, 302, 302, 429]


def test_an_order_holds_at_most_order_max_units(settings: Settings) -> None:
    settings.ORDER_MAX_UNITS = 10
    widget = WidgetFactory.create(category=CategoryFactory.create(), stock=100)
    client = Client()
    client.post("/cart/add/", {"widget": widget.pk, "quantity": 8})

    response = client.post("/cart/add/", {"widget": widget.pk, "quantity": 3})

    assert (response.status_code, b"at most 10 widgets" in response.content) == (409, True)


def test_search_is_limited_per_address(client: Client, settings: Settings) -> None:
    limits(settings, "search", address="2/m")

    answers = [client.get("/search/?q=cog", REMOTE_ADDR=SCRIPT).status_code for _ in range(3)]

    assert answers == [200, 200, 429]


def test_the_api_answers_429_in_json(client: Client, settings: Settings) -> None:
    limits(settings, "api", address="1/m")
    client.get("/api/categories/", REMOTE_ADDR=SCRIPT)

    response = client.get("/api/categories/", REMOTE_ADDR=SCRIPT)

    assert (response.status_code, response.json()["error"], response.has_header("Retry-After")) == (
        429,
        "rate_limited",
        True,
    )


def test_admin_login_attempts_are_limited_per_address(client: Client, settings: Settings) -> None:
    limits(settings, "admin-login", address="2/10m")
    attempt = {"username": "someone", "password": "guess", "otp_token": "123456"}

    answers = [
        client.post("/admin/login/", attempt, REMOTE_ADDR=SCRIPT).status_code for _ in range(3)
    ]

    assert answers == [200, 200, 429]


def test_behind_our_proxy_each_client_has_its_own_limit(client: Client, settings: Settings) -> None:
    limits(settings, "search", address="1/m")
    settings.TRUSTED_PROXIES = [ip_network("10.0.0.0/8")]

    first = client.get("/search/?q=cog", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=SCRIPT)
    second = client.get("/search/?q=cog", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=SHOPPER)

    assert (first.status_code, second.status_code) == (200, 200)


def test_a_forged_forwarded_for_fools_nobody(client: Client, settings: Settings) -> None:
    limits(settings, "search", address="1/m")

    client.get("/search/?q=cog", REMOTE_ADDR=SCRIPT, HTTP_X_FORWARDED_FOR="192.0.2.1")
    second = client.get("/search/?q=cog", REMOTE_ADDR=SCRIPT, HTTP_X_FORWARDED_FOR="192.0.2.2")

    assert second.status_code == 429


def skipped(operation: str) -> float:
    labels = {"alias": "default", "operation": operation}
    return REGISTRY.get_sample_value("widgetworld_cache_skipped_total", labels) or 0.0


def cache_errors(scope: str) -> float:
    labels = {"scope": scope}
    return REGISTRY.get_sample_value("widgetworld_ratelimit_errors_total", labels) or 0.0


@pytest.mark.usefixtures("cache_stopped")
def test_with_the_cache_server_stopped_shoppers_are_let_through(settings: Settings) -> None:
    """Limits fail open: a stopped cache server refuses no search, no cart and no checkout."""
    limits(settings, "search", address="1/m")
    limits(settings, "cart", session="1/10m")
    limits(settings, "checkout", session="1/10m")
    widget = WidgetFactory.create(category=CategoryFactory.create(), stock=5)
    client = Client(REMOTE_ADDR=SCRIPT)

    searches = [client.get("/search/?q=cog").status_code for _ in range(3)]
    adds = [client.post("/cart/add/", {"widget": widget.pk, "quantity": 1}) for _ in range(2)]
    placed = buy(widget, 1, SHOPPER)

    assert (searches, [a.status_code for a in adds], placed.status_code) == (
        [200, 200, 200],
        [302, 302],
        303,
    )


@pytest.mark.usefixtures("cache_stopped")
def test_a_cache_server_known_to_be_down_is_not_asked_at_all(
    rf: RequestFactory, settings: Settings
) -> None:
    """Through the cache seam's breaker: no connection attempt, nor its timeout, per check."""
    limits(settings, "checkout", session="1/10m", address="1/10m")
    before = (skipped("add") + skipped("get"), cache_errors("checkout"))
    request = rf.post("/checkout/", REMOTE_ADDR=SCRIPT)
    request.session = SessionStore()
    checker = limit("checkout")

    verdicts = [checker.hit(request).allowed for _ in range(5)]
    verdicts += [checker.check(request).allowed for _ in range(5)]

    after = (skipped("add") + skipped("get"), cache_errors("checkout"))
    assert (verdicts, after[0] - before[0] >= 5, after[1] - before[1]) == ([True] * 10, True, 10)
