"""The session cart: add, change, remove, totals, and every bad input answered without a 500."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client, override_settings
from pytest_django import DjangoAssertNumQueries

from catalog.cart import SESSION_KEY
from tests.catalog.conftest import MakeWidgets
from tests.catalog.shopping import add_to_cart


def cart_of(client: Client) -> dict[str, int]:
    return dict(client.session.get(SESSION_KEY, {}))


def test_adding_twice_adds_up(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1)

    add_to_cart(client, widget, 2)
    add_to_cart(client, widget, 3)

    assert cart_of(client) == {str(widget.id): 5}


def test_totals_add_shipping_below_the_free_threshold(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, price=Decimal("10.00"))
    add_to_cart(client, widget, 2)

    contents = client.get("/cart/").context["contents"]

    assert (contents.subtotal, contents.shipping, contents.total) == (
        Decimal("20.00"),
        Decimal("4.95"),
        Decimal("24.95"),
    )


def test_shipping_is_free_from_the_threshold(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, price=Decimal("25.00"))
    add_to_cart(client, widget, 2)

    assert client.get("/cart/").context["contents"].shipping == Decimal("0.00")


def test_the_cart_shows_todays_price(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, price=Decimal("10.00"))
    add_to_cart(client, widget)
    widget.price = Decimal("12.00")
    widget.save()

    assert client.get("/cart/").context["contents"].subtotal == Decimal("12.00")


def test_changing_the_quantity(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1)
    add_to_cart(client, widget)

    client.post("/cart/update/", {"widget": widget.id, "quantity": 4})

    assert cart_of(client) == {str(widget.id): 4}


def test_a_quantity_of_zero_removes_the_line(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1)
    add_to_cart(client, widget)

    client.post("/cart/update/", {"widget": widget.id, "quantity": 0})

    assert cart_of(client) == {}


def test_removing_a_line(client: Client, make_widgets: MakeWidgets) -> None:
    [kept, removed] = make_widgets(2)
    add_to_cart(client, kept)
    add_to_cart(client, removed)

    client.post("/cart/remove/", {"widget": removed.id})

    assert cart_of(client) == {str(kept.id): 1}


@pytest.mark.parametrize("quantity", ["-1", "0", "100", "99999999999999999999", "two", "", "1.5"])
def test_bad_quantities_on_add_re_show_the_product_with_a_400(
    client: Client, make_widgets: MakeWidgets, quantity: str
) -> None:
    [widget] = make_widgets(1, stock=500)

    response = client.post("/cart/add/", {"widget": widget.id, "quantity": quantity})

    assert (response.status_code, response.context["form"].errors != {}, cart_of(client)) == (
        400,
        True,
        {},
    )


@pytest.mark.parametrize("quantity", ["-3", "100", "lots"])
def test_bad_quantities_on_update_re_show_the_cart_with_a_400(
    client: Client, make_widgets: MakeWidgets, quantity: str
) -> None:
    [widget] = make_widgets(1, stock=500)
    add_to_cart(client, widget, 2)

    response = client.post("/cart/update/", {"widget": widget.id, "quantity": quantity})

    assert (response.status_code, cart_of(client)) == (400, {str(widget.id): 2})


def test_more_than_in_stock_is_refused_with_the_number_left(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, stock=3)

    response = client.post("/cart/add/", {"widget": widget.id, "quantity": 4})

    assert (response.status_code, b"Only 3" in response.content, cart_of(client)) == (
        409,
        True,
        {},
    )


@pytest.mark.parametrize(
    ("widget_id", "status"),
    [
        ("999999", 404),
        ("abc", 400),
        ("", 400),
        ("-4", 400),
        ("\u00b2", 400),
        ("99999999999999999999", 400),
    ],
)
def test_a_forged_widget_id_is_refused(
    client: Client, make_widgets: MakeWidgets, widget_id: str, status: int
) -> None:
    make_widgets(1)

    response = client.post("/cart/add/", {"widget": widget_id, "quantity": 1})

    assert (response.status_code, cart_of(client)) == (status, {})


def test_a_withdrawn_widget_cannot_be_added(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, is_active=False)

    response = client.post("/cart/add/", {"widget": widget.id, "quantity": 1})

    assert response.status_code == 404


@pytest.mark.parametrize("fate", ["deleted", "withdrawn"])
def test_a_stale_cart_entry_is_dropped_with_a_word_to_the_shopper(
    client: Client, make_widgets: MakeWidgets, fate: str
) -> None:
    [stale, kept] = make_widgets(2)
    add_to_cart(client, stale)
    add_to_cart(client, kept)
    if fate == "deleted":
        stale.delete()
    else:
        stale.is_active = False
        stale.save()

    response = client.get("/cart/")

    assert (
        [line.widget for line in response.context["contents"].lines],
        b"no longer sold" in response.content,
        cart_of(client),
    ) == ([kept], True, {str(kept.id): 1})


def test_a_tampered_session_cart_is_ignored(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1)
    session = client.session
    session[SESSION_KEY] = {"x": 1, str(widget.id): -5, "7": "many", "8": 10**9}
    session.save()

    response = client.get("/cart/")

    assert (response.status_code, response.context["contents"].lines) == (200, [])


def test_posting_without_a_csrf_token_is_the_friendly_403(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1)
    client = Client(enforce_csrf_checks=True)

    response = client.post("/cart/add/", {"widget": widget.id, "quantity": 1})

    assert (response.status_code, b"That form has expired" in response.content) == (403, True)


@override_settings(ORDER_MAX_UNITS=10_000)  # the lines' own caps are what is tested here
def test_a_full_cart_keeps_the_session_cookie_well_under_4_kb(
    client: Client, make_widgets: MakeWidgets
) -> None:
    """Browsers drop cookies over about 4 KB: the caps on lines and quantities keep us under."""
    widgets = make_widgets(settings.CART_MAX_LINES + 1, stock=500)
    for widget in widgets[:-1]:
        add_to_cart(client, widget, settings.CART_MAX_QUANTITY)

    one_too_many = client.post("/cart/add/", {"widget": widgets[-1].id, "quantity": 1})

    assert (one_too_many.status_code, len(client.cookies["sessionid"].value) < 3000) == (409, True)


def test_the_cart_badge_counts_units(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1)
    add_to_cart(client, widget, 3)

    assert b'<span class="badge" aria-label="3 items">3</span>' in client.get("/").content


@pytest.mark.parametrize("lines", [1, 12])
def test_cart_page_costs_two_queries_whatever_it_holds(
    client: Client,
    make_widgets: MakeWidgets,
    django_assert_num_queries: DjangoAssertNumQueries,
    lines: int,
) -> None:
    for widget in make_widgets(lines):
        add_to_cart(client, widget)

    # category tree (menu), the cart's widgets
    with django_assert_num_queries(2):
        response = client.get("/cart/")

    assert len(response.context["contents"].lines) == lines


def test_browsing_and_filling_a_cart_writes_nothing_to_the_database(
    client: Client, make_widgets: MakeWidgets, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    """The session is a signed cookie: a surge of shoppers costs no session writes."""
    [widget] = make_widgets(1)

    # The add reads the widget; the session costs nothing.
    with django_assert_max_num_queries(1):
        add_to_cart(client, widget)

    assert client.cookies["sessionid"].value
