"""Checkout: validated details, prices re-read, stock never oversold, one order per form."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import requests
from django.db import DatabaseError, connection
from django.test import Client
from pytest_django.live_server_helper import LiveServer

from catalog.factories import CategoryFactory, WidgetFactory
from catalog.models import Order, OrderLine, Widget
from catalog.services.checkout import (
    Customer,
    OutOfStockError,
    Placement,
    place_order,
)
from devtools.servers import wait_for
from tests.catalog.conftest import MakeWidgets
from tests.catalog.shopping import add_to_cart, checkout_details, checkout_form, pay, ready_to_pay

CUSTOMER = Customer(
    full_name="Ada Lovelace",
    email="ada@example.com",
    address_line1="12 Analytical Row",
    city="London",
    postcode="N1 9GU",
    country="GB",
)


def test_placing_an_order_decrements_stock_and_shows_the_number(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, stock=5, price=Decimal("30.00"))
    add_to_cart(client, widget, 2)

    response = client.post("/checkout/", checkout_form(client), follow=True)

    order = Order.objects.get()
    widget.refresh_from_db()
    assert (widget.stock, order.total, order.number.encode() in response.content) == (
        3,
        Decimal("60.00"),
        True,
    )


def test_the_order_keeps_a_copy_of_what_was_bought(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, name="Brass Sprocket", sku="WW-000042", price=Decimal("7.50"))
    add_to_cart(client, widget, 2)
    client.post("/checkout/", checkout_form(client))

    line = OrderLine.objects.get()

    assert (line.name, line.sku, line.unit_price, line.quantity, line.line_total) == (
        "Brass Sprocket",
        "WW-000042",
        Decimal("7.50"),
        2,
        Decimal("15.00"),
    )


def test_the_cart_is_emptied_after_the_order(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1)
    add_to_cart(client, widget)

    client.post("/checkout/", checkout_form(client))

    assert client.get("/cart/").context["contents"].lines == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", ""),
        ("full_name", ""),
        ("address_line1", ""),
        ("city", ""),
        ("postcode", ""),
        ("country", "XX"),
        ("phone", "call me maybe"),
        ("idempotency_key", "not-a-uuid"),
        ("full_name", "x" * 151),
    ],
)
def test_invalid_details_show_the_form_again_with_messages(
    client: Client, make_widgets: MakeWidgets, field: str, value: str
) -> None:
    [widget] = make_widgets(1)
    add_to_cart(client, widget)
    form = checkout_form(client, **{field: value})
    form[field] = value

    response = client.post("/checkout/", form)

    assert (
        response.status_code,
        field in response.context["form"].errors,
        Order.objects.count(),
    ) == (
        400,
        True,
        0,
    )


def test_a_replayed_form_creates_one_order(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, stock=5)
    add_to_cart(client, widget, 2)
    form = checkout_form(client)

    first = client.post("/checkout/", form)
    add_to_cart(client, widget, 1)  # even with something new in the cart since
    second = client.post("/checkout/", form)

    widget.refresh_from_db()
    assert (Order.objects.count(), widget.stock, first["Location"]) == (
        1,
        3,
        second["Location"],
    )


def test_a_replay_keeps_what_was_added_to_the_cart_since(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [ordered, added_later] = make_widgets(2)
    add_to_cart(client, ordered)
    form = checkout_form(client)
    client.post("/checkout/", form)
    add_to_cart(client, added_later)

    client.post("/checkout/", form)

    lines = client.get("/cart/").context["contents"].lines
    assert [line.widget for line in lines] == [added_later]


def test_a_double_click_empties_the_cart_it_was_sent_with(
    client: Client, make_widgets: MakeWidgets
) -> None:
    """The second click carries the cookie from before the first: the order's lines go."""
    [widget] = make_widgets(1)
    add_to_cart(client, widget)
    form = checkout_form(client)
    cookie_before = client.cookies["sessionid"].value
    client.post("/checkout/", form)
    client.cookies["sessionid"] = cookie_before

    client.post("/checkout/", form)

    assert (client.get("/cart/").context["contents"].lines, Order.objects.count()) == ([], 1)


def test_the_confirmation_is_only_for_the_browser_that_ordered(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1)
    add_to_cart(client, widget)
    location = client.post("/checkout/", checkout_form(client))["Location"]

    assert (client.get(location).status_code, Client().get(location).status_code) == (200, 404)


def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client: Client, db: None) -> None:
    response = client.get("/checkout/")

    assert response["Location"] == "/cart/"


def test_running_out_meanwhile_writes_nothing_and_says_so(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [plenty, scarce] = make_widgets(2, stock=5)
    add_to_cart(client, plenty, 1)
    add_to_cart(client, scarce, 3)
    form = checkout_form(client)
    Widget.objects.filter(pk=scarce.pk).update(stock=1)  # someone else bought them

    response = client.post("/checkout/", form)

    plenty.refresh_from_db()
    assert (
        response.status_code,
        b"only 1 left" in response.content,
        Order.objects.count(),
        OrderLine.objects.count(),
        plenty.stock,
    ) == (409, True, 0, 0, 5)


def test_a_price_change_before_submitting_asks_to_confirm_the_new_total(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, price=Decimal("60.00"))
    add_to_cart(client, widget)
    form = checkout_form(client)
    Widget.objects.filter(pk=widget.pk).update(price=Decimal("65.00"))

    response = client.post("/checkout/", form)

    assert (response.status_code, Order.objects.count(), b"Prices changed" in response.content) == (
        409,
        0,
        True,
    )


def test_the_price_charged_is_read_at_checkout(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, price=Decimal("60.00"))
    Widget.objects.filter(pk=widget.pk).update(price=Decimal("65.00"))

    placement = place_order(key=uuid.uuid4(), customer=CUSTOMER, lines={widget.pk: 1})

    assert placement.order.subtotal == Decimal("65.00")


def test_a_widget_withdrawn_since_the_cart_page_stops_the_checkout(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [widget, other] = make_widgets(2)
    add_to_cart(client, widget)
    add_to_cart(client, other)
    form = checkout_form(client)
    Widget.objects.filter(pk=widget.pk).update(is_active=False)

    response = client.post("/checkout/", form)

    assert (response.status_code, Order.objects.count()) == (409, 0)


def test_a_missing_csrf_token_is_the_friendly_403(make_widgets: MakeWidgets) -> None:
    response = Client(enforce_csrf_checks=True).post("/checkout/", checkout_details())

    assert (response.status_code, b"That form has expired" in response.content) == (403, True)


def test_staff_see_orders_in_the_admin(admin_client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1)
    order = place_order(key=uuid.uuid4(), customer=CUSTOMER, lines={widget.pk: 1}).order

    listing = admin_client.get("/admin/catalog/order/")
    detail = admin_client.get(f"/admin/catalog/order/{order.pk}/change/")

    assert (order.number.encode() in listing.content, widget.name.encode() in detail.content) == (
        True,
        True,
    )


# -- Concurrency: real threads, real transactions --------------------------------------


def retrying(work: Callable[[], Placement]) -> Placement:
    """Call `work`, again when the pool turned it away, as a shopper's retry after a 503 does.

    The pool sizes itself for one gunicorn worker's threads and turns the
    excess away at once (a DatabaseError carrying `retry_after`). Twenty
    threads in one process are more than a worker ever runs, so a buyer
    turned away submits the same form again.
    """
    for _ in range(200):
        try:
            return work()
        except DatabaseError as error:
            if not hasattr(error, "retry_after"):
                raise
            time.sleep(0.02)
    raise AssertionError("still turned away by the pool after 200 tries")


def race(
    buyers: int, buy: threading.Barrier, work: Callable[[int], Placement]
) -> list[Placement | Exception]:
    """Run `work(i)` in `buyers` threads released at once; each closes its own connection."""
    results: list[Placement | Exception] = [RuntimeError("did not run")] * buyers

    def buyer(i: int) -> None:
        try:
            buy.wait(timeout=30)
            results[i] = retrying(lambda: work(i))
        except Exception as error:
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=buyer, args=(i,)) for i in range(buyers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_buyers_racing_for_the_last_five_units() -> None:
    widget = WidgetFactory.create(category=CategoryFactory.create(), stock=5)
    buyers = 20
    forms = [uuid.uuid4() for _ in range(buyers)]  # one checkout form each

    results = race(
        buyers,
        threading.Barrier(buyers),
        lambda i: place_order(key=forms[i], customer=CUSTOMER, lines={widget.pk: 1}),
    )

    widget.refresh_from_db()
    outcomes = sorted(type(result).__name__ for result in results)
    assert (outcomes, Order.objects.count(), widget.stock) == (
        ["OutOfStockError"] * 15 + ["Placement"] * 5,
        5,
        0,
    )


@pytest.mark.django_db(transaction=True)
def test_the_same_form_submitted_concurrently_makes_one_order() -> None:
    widget = WidgetFactory.create(category=CategoryFactory.create(), stock=50)
    key = uuid.uuid4()
    buyers = 8

    results = race(
        buyers,
        threading.Barrier(buyers),
        lambda i: place_order(key=key, customer=CUSTOMER, lines={widget.pk: 2}),
    )

    widget.refresh_from_db()
    # Every submission is answered with the one order, and exactly one of them made it.
    answers = sorted(
        (result.order.pk, result.created) if isinstance(result, Placement) else (0, repr(result))
        for result in results
    )
    [order] = Order.objects.all()
    assert (answers, widget.stock) == (
        [(order.pk, False)] * (buyers - 1) + [(order.pk, True)],
        48,
    )


def raw_connection(**options: Any) -> psycopg.Connection:
    """Another client of the test database, outside Django and its pool."""
    database = connection.settings_dict
    return psycopg.connect(
        host=database["HOST"],
        port=database["PORT"],
        user=database["USER"],
        password=database["PASSWORD"],
        dbname=database["NAME"],
        **options,
    )


@contextlib.contextmanager
def row_lock_held(widget: Widget) -> Iterator[None]:
    """Another client's transaction holds `widget`'s row until the block ends."""
    with raw_connection() as holder:
        holder.execute("SELECT 1 FROM catalog_widget WHERE id = %s FOR UPDATE", [widget.pk])
        yield
        holder.rollback()


def someone_waits_for_a_row_lock() -> bool:
    with raw_connection(autocommit=True) as observer:
        row = observer.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.django_db(transaction=True)
def test_checkout_locks_widgets_in_primary_key_order_whatever_the_table_order() -> None:
    """One lock order for every checkout is what keeps carts sharing widgets from deadlocking.

    The table's physical order is made the reverse of the keys' (an update moves
    the first row to the end), so a checkout that locked rows in the order it
    scans them would take the second widget first. Another client holds the
    second widget: a checkout that locks in key order holds the first while it
    waits, so nobody else can take the first meanwhile.
    """
    category = CategoryFactory.create()
    first, second = (
        WidgetFactory.create(category=category, stock=10),
        WidgetFactory.create(category=category, stock=10),
    )
    Widget.objects.filter(pk=first.pk).update(stock=9)  # its new row version goes last
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_widget")  # so the planner scans the table as it lies

    def buy() -> None:
        try:
            place_order(key=uuid.uuid4(), customer=CUSTOMER, lines={second.pk: 1, first.pk: 1})
        finally:
            connection.close()

    buyer = threading.Thread(target=buy)
    with row_lock_held(second):
        buyer.start()
        wait_for("the checkout to wait for the held widget", someone_waits_for_a_row_lock, 30)
        with raw_connection() as probe:
            free = probe.execute(
                "SELECT id FROM catalog_widget WHERE id = %s FOR UPDATE SKIP LOCKED", [first.pk]
            ).fetchall()
    buyer.join(timeout=30)

    assert free == []


def test_out_of_stock_names_what_ran_out(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, name="Brass Sprocket", stock=2)

    with pytest.raises(OutOfStockError, match="Brass Sprocket: only 2 left"):
        place_order(key=uuid.uuid4(), customer=CUSTOMER, lines={widget.pk: 3})


# -- The same race through HTTP: sessions, forms, the views and the pool ---------------

SHOPPERS = 20


def test_twenty_shoppers_checking_out_the_last_five_units_at_once(
    transactional_db: None, live_server: LiveServer
) -> None:
    widget = WidgetFactory.create(category=CategoryFactory.create(), stock=5)
    shoppers = [ready_to_pay(live_server.url, widget.slug, widget.pk) for _ in range(SHOPPERS)]
    start = threading.Barrier(SHOPPERS)

    def checkout(shopper: requests.Session, form: dict[str, str]) -> str:
        start.wait(timeout=30)
        return pay(live_server.url, shopper, form)

    with ThreadPoolExecutor(max_workers=SHOPPERS) as pool:
        said = Counter(pool.map(lambda s: checkout(*s), shoppers))

    widget.refresh_from_db()
    assert (said, Order.objects.count(), widget.stock) == (
        Counter({"placed": 5, "sold out": 15}),
        5,
        0,
    )
