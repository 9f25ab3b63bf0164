"""Turning a cart into an order: never oversold, never half-written, never twice.

One transaction does everything, in this order:

1. Insert the order row with the form's idempotency key. A concurrent replay
   of the same form blocks on the key's unique index until this transaction
   ends, then fails and gets this order back; so a double click, a retry after
   a timeout or a replayed form all land on one order.
2. Lock the cart's widget rows (`SELECT ... FOR UPDATE`) in primary-key order.
   Every checkout locks in the same order, so two carts sharing widgets
   queue instead of deadlocking.
3. Re-read prices and stock from those locked rows; if a widget is withdrawn,
   short, or the total differs from what the shopper saw, raise: the
   rollback leaves no order, no line and no stock change behind.
4. Decrement stock, write the lines and totals, commit.

The `stock >= 0` CHECK constraint is the last line of defence, not the
mechanism: the lock makes the check-then-decrement safe.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog import metrics
from catalog.caching.version import catalog_changed
from catalog.cart import shipping_for
from catalog.models import Order, OrderLine, Widget

# Crockford's base 32 without look-alikes (no I, L, O, U): order numbers are
# read out over the phone.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class Customer:
    full_name: str
    email: str
    address_line1: str
    city: str
    postcode: str
    country: str
    phone: str = ""
    address_line2: str = ""


@dataclass(frozen=True)
class Placement:
    order: Order
    # False when the idempotency key already had an order: nothing new was written.
    created: bool


class CheckoutError(Exception):
    """The order was not placed and nothing was written; `message` is for the shopper."""

    message = "Your order could not be placed."

    def __str__(self) -> str:
        return self.message


class EmptyCartError(CheckoutError):
    message = "Your cart is empty."


class TooManyUnitsError(CheckoutError):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.message = f"An order holds at most {limit} widgets: please remove some from your cart."


class KeyReusedError(CheckoutError):
    """The form's key already placed an order, in another browser: its order is not ours to show."""

    message = "This checkout form was already used. Please check your details and place the order."


@dataclass(frozen=True)
class Shortage:
    name: str
    wanted: int
    available: int


class OutOfStockError(CheckoutError):
    def __init__(self, shortages: list[Shortage]) -> None:
        super().__init__()
        self.shortages = shortages
        self.message = (
            "Sorry, we just ran out: "
            + "; ".join(
                f"{s.name}: only {s.available} left, you asked for {s.wanted}"
                if s.available
                else f"{s.name} is sold out"
                for s in shortages
            )
            + ". Please update your cart; you have not been charged."
        )


class UnavailableError(CheckoutError):
    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.message = "No longer for sale: " + ", ".join(names) + ". Please review your cart."


class PriceChangedError(CheckoutError):
    def __init__(self, total: Decimal) -> None:
        super().__init__()
        self.total = total
        self.message = (
            "Prices changed while you were checking out: please review the new total "
            "and place your order again."
        )


def new_order_number() -> str:
    """WW-XXXXX-XXXXX: 50 random bits, unguessable enough to key a confirmation page."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"WW-{chars[:5]}-{chars[5:]}"


def existing_order(key: uuid.UUID, placed_by: str) -> Order | None:
    """The order `key` already placed, if the same browser placed it; KeyReusedError otherwise."""
    order = Order.objects.filter(idempotency_key=key).first()
    if order is not None and not hmac.compare_digest(order.placed_by, placed_by):
        raise KeyReusedError
    return order


def place_order(
    *,
    key: uuid.UUID,
    customer: Customer,
    lines: Mapping[int, int],
    expected_total: Decimal | None = None,
    placed_by: str = "",
) -> Placement:
    """Place one order for `lines` ({widget id: quantity}), or return the one `key` already has.

    `expected_total` is the total the shopper was shown; when given and the
    prices read under lock differ, PriceChangedError is raised instead of
    charging a surprise. `placed_by` identifies the placing browser (a digest
    of a secret in its session): a replayed key returns its order only to the
    browser that placed it, anyone else gets KeyReusedError.
    """
    if (order := existing_order(key, placed_by)) is not None:
        return Placement(order, created=False)
    if not lines:
        raise EmptyCartError
    if any(quantity < 1 for quantity in lines.values()):
        raise ValueError("quantities must be positive")
    if sum(lines.values()) > settings.ORDER_MAX_UNITS:
        raise TooManyUnitsError(settings.ORDER_MAX_UNITS)
    try:
        with transaction.atomic():
            order = _place(key, customer, lines, expected_total, placed_by)
    except IntegrityError:
        # Lost the race for this key: the other request placed the order.
        if (order := existing_order(key, placed_by)) is not None:
            return Placement(order, created=False)
        raise
    metrics.ORDERS_PLACED.inc()
    metrics.ORDER_UNITS.inc(sum(lines.values()))
    return Placement(order, created=True)


def _place(
    key: uuid.UUID,
    customer: Customer,
    lines: Mapping[int, int],
    expected_total: Decimal | None,
    placed_by: str,
) -> Order:
    now = timezone.now()
    # With a payment step the order holds its stock only until the hold
    # expires (catalog/services/orders.py); without one it is placed outright.
    awaiting = settings.ORDER_AWAIT_PAYMENT
    order = Order.objects.create(
        number=new_order_number(),
        idempotency_key=key,
        placed_by=placed_by,
        status=Order.Status.PENDING if awaiting else Order.Status.PLACED,
        hold_expires_at=now + timedelta(minutes=settings.ORDER_HOLD_MINUTES) if awaiting else None,
        currency=settings.CURRENCY,
        full_name=customer.full_name,
        email=customer.email,
        phone=customer.phone,
        address_line1=customer.address_line1,
        address_line2=customer.address_line2,
        city=customer.city,
        postcode=customer.postcode,
        country=customer.country,
    )
    widgets = list(Widget.objects.select_for_update().filter(pk__in=lines).order_by("pk"))
    found = {widget.pk for widget in widgets}
    gone = [w.name for w in widgets if not w.is_active]
    if gone or len(found) != len(lines):
        missing = len(lines) - len(found)
        raise UnavailableError(
            gone + ([f"{missing} widget(s) removed from the shop"] if missing else [])
        )
    shortages = [Shortage(w.name, lines[w.pk], w.stock) for w in widgets if lines[w.pk] > w.stock]
    if shortages:
        raise OutOfStockError(shortages)

    subtotal = sum((w.price * lines[w.pk] for w in widgets), Decimal("0.00"))
    shipping = shipping_for(subtotal)
    if expected_total is not None and subtotal + shipping != expected_total:
        raise PriceChangedError(subtotal + shipping)

    for widget in widgets:
        widget.stock -= lines[widget.pk]
        widget.updated_at = now  # bulk_update skips auto_now: pages' ETags must change
    Widget.objects.bulk_update(widgets, ["stock", "updated_at"])
    # bulk_update sends no signal: the product pages must show the new stock.
    catalog_changed()
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            widget=w,
            sku=w.sku,
            name=w.name,
            unit_price=w.price,
            quantity=lines[w.pk],
            line_total=w.price * lines[w.pk],
        )
        for w in widgets
    )
    order.subtotal, order.shipping, order.total = subtotal, shipping, subtotal + shipping
    order.save(update_fields=["subtotal", "shipping", "total", "updated_at"])
    return order
