"""An order's life after checkout: paid, shipped, or cancelled with its stock back, exactly once.

Every status change is one conditional UPDATE (`WHERE status IN <allowed
sources>`): two staff members, or a staff member and the hold-expiry job,
cancelling the same order at once both run it, PostgreSQL serialises them on
the row, and the second finds the order already cancelled and changes
nothing. The winner returns the stock in the same transaction, so stock comes
back once, together with the status, or not at all.

Holds: while a payment step exists (ORDER_AWAIT_PAYMENT), checkout places
orders `pending` with `hold_expires_at`; the payment step calls
`confirm_payment()`, and `release_expired_holds()` (the
`release_expired_holds` command, run every minute) cancels whatever was
never paid. docs/storefront.md says how a payment provider plugs in.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog import metrics
from catalog.caching.version import catalog_changed
from catalog.models import Order, OrderLine, Widget

Status = Order.Status

# Where each status may go next. Cancelled and shipped are final: un-cancelling
# would have to take stock again, which is a new order's job.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.PLACED, Status.PAID, Status.CANCELLED}),
    Status.PLACED: frozenset({Status.PAID, Status.SHIPPED, Status.CANCELLED}),
    Status.PAID: frozenset({Status.SHIPPED, Status.CANCELLED}),
    Status.SHIPPED: frozenset(),
    Status.CANCELLED: frozenset(),
}


class StatusChangeError(Exception):
    """The change is not allowed from the order's current status; `str()` says why, for staff."""


def change_status(order_id: int, new: str) -> bool:
    """Move an order to `new`; True if this call moved it, False if it already was `new`.

    Cancelling returns every line's units to its widget in the same
    transaction (rows locked in primary-key order, as checkout locks them).
    """
    sources = [status for status, targets in TRANSITIONS.items() if new in targets]
    with transaction.atomic():
        moved = Order.objects.filter(pk=order_id, status__in=sources).update(
            status=new, hold_expires_at=None, updated_at=timezone.now()
        )
        if not moved:
            current = Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
            if current == new:
                return False
            raise StatusChangeError(
                f"An order that is {Status(current).label.lower() if current else 'gone'} "
                f"cannot become {Status(new).label.lower()}."
            )
        if new == Status.CANCELLED:
            _return_stock(order_id)
    if new == Status.CANCELLED:
        metrics.ORDERS_CANCELLED.inc()
    return True


def _return_stock(order_id: int) -> None:
    units: Counter[int] = Counter()
    for widget_id, quantity in OrderLine.objects.filter(
        order_id=order_id, widget__isnull=False
    ).values_list("widget_id", "quantity"):
        units[widget_id] += quantity
    now = timezone.now()
    for widget_id in (
        Widget.objects.select_for_update()
        .filter(pk__in=units)
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        # updated_at too: pages' ETags must show the stock is back.
        Widget.objects.filter(pk=widget_id).update(
            stock=F("stock") + units[widget_id], updated_at=now
        )
    if units:
        # update() sends no signal: cached pages must show the stock is back.
        catalog_changed()


def hold_until(now: dt.datetime, minutes: float) -> dt.datetime:
    return now + dt.timedelta(minutes=minutes)


def confirm_payment(order_id: int) -> bool:
    """What a payment step calls when the money is in: pending -> paid, if the hold still stands."""
    with transaction.atomic():
        moved = Order.objects.filter(
            pk=order_id, status=Status.PENDING, hold_expires_at__gt=timezone.now()
        ).update(status=Status.PAID, hold_expires_at=None, updated_at=timezone.now())
    return bool(moved)


def release_expired_holds(now: dt.datetime | None = None) -> int:
    """Cancel every order whose hold expired unpaid, returning its stock; how many were released."""
    expired = Order.objects.filter(
        status=Status.PENDING, hold_expires_at__lte=now or timezone.now()
    ).values_list("pk", flat=True)
    released = 0
    for order_id in list(expired):
        if change_status(order_id, Status.CANCELLED):
            released += 1
            metrics.HOLDS_RELEASED.inc()
    return released
