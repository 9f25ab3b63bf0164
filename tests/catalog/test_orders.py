"""After checkout: stock returns exactly once, unpaid holds expire, keys stay with their browser."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import cast

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY
from pytest_django.fixtures import Settings

from catalog.factories import CategoryFactory, WidgetFactory
from catalog.models import Order, Widget
from catalog.services.checkout import Customer, place_order
from catalog.services.orders import (
    StatusChangeError,
    change_status,
    confirm_payment,
    release_expired_holds,
)
from core.db.backends.postgresql.base import DatabaseWrapper
from devtools.localdb import PostgresCluster
from devtools.servers import wait_for
from tests.catalog.conftest import MakeWidgets
from tests.catalog.shopping import add_to_cart, checkout_form

CUSTOMER = Customer(
    full_name="Ada Lovelace",
    email="ada@example.com",
    address_line1="12 Analytical Row",
    city="London",
    postcode="N1 9GU",
    country="GB",
)
Status = Order.Status


def buy(widget: Widget, quantity: int) -> Order:
    return place_order(key=uuid.uuid4(), customer=CUSTOMER, lines={widget.pk: quantity}).order


def stock_of(widget: Widget) -> int:
    widget.refresh_from_db()
    return widget.stock


def test_cancelling_returns_the_stock(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, stock=10)
    order = buy(widget, 3)

    change_status(order.pk, Status.CANCELLED)

    assert stock_of(widget) == 10


def test_cancelling_twice_returns_the_stock_once(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, stock=10)
    order = buy(widget, 3)
    change_status(order.pk, Status.CANCELLED)

    again = change_status(order.pk, Status.CANCELLED)

    assert (again, stock_of(widget)) == (False, 10)


def test_a_cancelled_order_cannot_be_reopened(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, stock=10)
    order = buy(widget, 3)
    change_status(order.pk, Status.CANCELLED)

    with pytest.raises(StatusChangeError, match="cancelled cannot become placed"):
        change_status(order.pk, Status.PLACED)


def test_a_shipped_order_keeps_its_stock(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, stock=10)
    order = buy(widget, 3)
    change_status(order.pk, Status.SHIPPED)

    with pytest.raises(StatusChangeError):
        change_status(order.pk, Status.CANCELLED)
    assert stock_of(widget) == 7


def waiting_on_a_lock(postgres: PostgresCluster) -> bool:
    """Whether a backend of the test database waits on a lock.

    Asked on a connection of its own, outside the app's pool: the two cancels
    hold the pool's connections, and on a busy machine its learned limit may
    leave none for an observer.
    """
    with postgres.admin_connect() as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s",
            [connection.settings_dict["NAME"]],
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.django_db(transaction=True)
def test_two_racing_cancels_return_the_stock_once(postgres: PostgresCluster) -> None:
    """The second cancel starts while the first's transaction is still open, then waits on it."""
    widget = WidgetFactory.create(category=CategoryFactory.create(), stock=10)
    order = buy(widget, 3)
    # The race starts on a pool that has learnt nothing, and this thread holds
    # none of it: with a limit that earlier tests' load taught down to its
    # floor of two, this thread and the first cancel would hold both, and the
    # second would time out before it could wait on the lock.
    connection.close()
    cast(DatabaseWrapper, connection).close_pool()
    results: list[bool] = []
    first_done, release = threading.Event(), threading.Event()

    def first() -> None:
        with transaction.atomic():
            results.append(change_status(order.pk, Status.CANCELLED))
            first_done.set()
            release.wait(60)
        connection.close()

    def second() -> None:
        results.append(change_status(order.pk, Status.CANCELLED))
        connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    first_done.wait(60)
    threads[1].start()
    try:
        wait_for(
            "the second cancel to wait on the first's lock", lambda: waiting_on_a_lock(postgres), 30
        )
    finally:
        # Whatever happened, no thread is left holding a connection for later tests.
        release.set()
        for thread in threads:
            thread.join(60)

    assert (sorted(results), stock_of(widget)) == ([False, True], 10)


def test_cancelling_in_the_admin_returns_the_stock(
    admin_client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, stock=10)
    order = buy(widget, 3)
    form = {
        "status": Status.CANCELLED,
        "full_name": order.full_name,
        "email": order.email,
        "phone": "",
        "address_line1": order.address_line1,
        "address_line2": "",
        "city": order.city,
        "postcode": order.postcode,
        "country": order.country,
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "1",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "lines-0-id": str(order.lines.get().pk),
        "lines-0-order": str(order.pk),
    }

    response = admin_client.post(f"/admin/catalog/order/{order.pk}/change/", form)

    order.refresh_from_db()
    assert (response.status_code, order.status, stock_of(widget)) == (302, Status.CANCELLED, 10)


def test_the_admins_cancel_action_returns_the_stock(
    admin_client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, stock=10)
    orders = [buy(widget, 2), buy(widget, 3)]

    admin_client.post(
        "/admin/catalog/order/",
        {"action": "cancel_orders", "_selected_action": [o.pk for o in orders]},
    )

    assert stock_of(widget) == 10


@pytest.fixture
def awaiting_payment(settings: Settings) -> None:
    settings.ORDER_AWAIT_PAYMENT = True
    settings.ORDER_HOLD_MINUTES = 30


@pytest.mark.usefixtures("awaiting_payment")
def test_an_unpaid_hold_expires_and_releases_its_stock(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, stock=10)
    order = buy(widget, 3)

    released = release_expired_holds(now=timezone.now() + dt.timedelta(minutes=31))

    order.refresh_from_db()
    assert (released, order.status, stock_of(widget)) == (1, Status.CANCELLED, 10)


@pytest.mark.usefixtures("awaiting_payment")
def test_a_hold_keeps_its_stock_until_it_expires(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, stock=10)
    buy(widget, 3)

    released = release_expired_holds(now=timezone.now() + dt.timedelta(minutes=29))

    assert (released, stock_of(widget)) == (0, 7)


@pytest.mark.usefixtures("awaiting_payment")
def test_a_paid_order_is_never_released(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, stock=10)
    order = buy(widget, 3)
    confirm_payment(order.pk)

    release_expired_holds(now=timezone.now() + dt.timedelta(days=1))

    order.refresh_from_db()
    assert (order.status, stock_of(widget)) == (Status.PAID, 7)


@pytest.mark.usefixtures("awaiting_payment")
def test_a_payment_after_the_hold_expired_is_refused(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, stock=10)
    order = buy(widget, 3)
    Order.objects.filter(pk=order.pk).update(hold_expires_at=timezone.now())

    assert confirm_payment(order.pk) is False


def test_a_replayed_key_from_another_browser_gets_no_order(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, stock=10)
    add_to_cart(client, widget)
    form = checkout_form(client)
    placed = client.post("/checkout/", form)
    assert placed.status_code == 303
    order = Order.objects.get()

    stranger = Client()
    add_to_cart(stranger, widget)
    replay = stranger.post("/checkout/", form)

    assert (replay.status_code, order.number in replay.content.decode()) == (409, False)


def test_a_double_click_in_the_same_browser_still_gets_its_order(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, stock=10)
    add_to_cart(client, widget)
    form = checkout_form(client)
    first = client.post("/checkout/", form)

    again = client.post("/checkout/", form)

    assert (again.status_code, again["Location"]) == (303, first["Location"])


def test_placed_orders_and_units_are_counted(make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, stock=10)
    before = REGISTRY.get_sample_value("widgetworld_order_units_total") or 0.0

    buy(widget, 3)

    assert REGISTRY.get_sample_value("widgetworld_order_units_total") == before + 3
