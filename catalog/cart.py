"""The shopper's cart, kept in the session as {widget id: quantity} and nothing else.

Prices, names and stock are always read from the database when the cart is
shown and again, under lock, at checkout: a cart can never pin an old price,
and a stale entry (a widget deleted or withdrawn since) is dropped with a
word to the shopper instead of failing the page. While the database cannot
be reached the cart is shown from the widgets' last good copies, marked
`stale`, and nothing is dropped from it: checkout waits for the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

from catalog.caching.degraded import Stale
from catalog.models import Widget
from catalog.selectors.widgets import widgets_by_id

SESSION_KEY = "cart"


class CartError(Exception):
    """Something the shopper asked for that the cart cannot do, said for the shopper."""


@dataclass(frozen=True)
class CartLine:
    widget: Widget
    quantity: int

    @property
    def total(self) -> Decimal:
        return self.widget.price * self.quantity

    @property
    def short(self) -> bool:
        """More in the cart than in stock: checkout would refuse it."""
        return self.quantity > self.widget.stock


@dataclass(frozen=True)
class CartContents:
    lines: list[CartLine]
    # Names of widgets that were in the cart but are no longer sold.
    dropped: list[str] = field(default_factory=list)
    # Set when the lines come from the widgets' last good copies (database down).
    stale: Stale | None = None
    # Lines kept in the cart that cannot be shown now (no copy of their widget).
    unshown: int = 0

    @property
    def subtotal(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal("0.00"))

    @property
    def shipping(self) -> Decimal:
        return shipping_for(self.subtotal) if self.lines else Decimal("0.00")

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.shipping

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def short(self) -> bool:
        return any(line.short for line in self.lines)


def shipping_for(subtotal: Decimal) -> Decimal:
    return Decimal("0.00") if subtotal >= settings.FREE_SHIPPING_FROM else settings.SHIPPING_FEE


def _parse(raw: Any) -> dict[int, int]:
    """The session's cart, keeping only well-formed entries (ids and quantities in range)."""
    if not isinstance(raw, Mapping):
        return {}
    cart: dict[int, int] = {}
    for key, quantity in raw.items():
        if (
            isinstance(key, str)
            and key.isdigit()
            and isinstance(quantity, int)
            and 0 < quantity <= settings.CART_MAX_QUANTITY
        ):
            cart[int(key)] = quantity
    return cart


class Cart:
    """Reads and writes the cart in one session; knows nothing about prices."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session
        self.items = _parse(session.get(SESSION_KEY))

    def __len__(self) -> int:
        return len(self.items)

    @property
    def count(self) -> int:
        """Units in the cart, for the header badge: no database needed."""
        return sum(self.items.values())

    def quantity_of(self, widget_id: int) -> int:
        return self.items.get(widget_id, 0)

    def add(self, widget: Widget, quantity: int) -> int:
        """Add units of an active widget; returns the new quantity of its line."""
        already = self.quantity_of(widget.id)
        new = already + quantity
        if widget.stock == 0:
            raise CartError(f"Sorry, {widget.name} is sold out.")
        if new > widget.stock:
            in_cart = f" ({already} already in your cart)" if already else ""
            raise CartError(f"Only {widget.stock} of {widget.name} in stock{in_cart}.")
        if new > settings.CART_MAX_QUANTITY:
            raise CartError(f"At most {settings.CART_MAX_QUANTITY} of one widget per order.")
        if self.count + quantity > settings.ORDER_MAX_UNITS:
            raise CartError(f"An order holds at most {settings.ORDER_MAX_UNITS} widgets.")
        if widget.id not in self.items and len(self.items) >= settings.CART_MAX_LINES:
            raise CartError(f"Your cart holds at most {settings.CART_MAX_LINES} different widgets.")
        self.items[widget.id] = new
        self._save()
        return new

    def set(self, widget: Widget, quantity: int) -> None:
        """Change a line's quantity; 0 removes it."""
        if quantity == 0:
            self.remove(widget.id)
            return
        if quantity > widget.stock:
            raise CartError(f"Only {widget.stock} of {widget.name} in stock.")
        if self.count - self.quantity_of(widget.id) + quantity > settings.ORDER_MAX_UNITS:
            raise CartError(f"An order holds at most {settings.ORDER_MAX_UNITS} widgets.")
        self.items[widget.id] = quantity
        self._save()

    def remove(self, widget_id: int) -> None:
        if self.items.pop(widget_id, None) is not None:
            self._save()

    def remove_all(self, widget_ids: Iterable[int | None]) -> None:
        """Remove these widgets' lines (None, a widget deleted since, is skipped)."""
        for widget_id in widget_ids:
            if widget_id is not None:
                self.items.pop(widget_id, None)
        self._save()

    def clear(self) -> None:
        self.items = {}
        self._save()

    def contents(self) -> CartContents:
        """The lines with today's widgets and prices, in one query; stale entries are dropped.

        While the database is down: the lines whose widgets have a last good
        copy, `stale` set, and nothing dropped (an unknown widget may well be
        on sale: it is kept, and counted in `unshown`).
        """
        if not self.items:
            return CartContents([])
        read = widgets_by_id(self.items)
        if read.stale is not None:
            kept = [
                CartLine(read.widgets[widget_id], quantity)
                for widget_id, quantity in self.items.items()
                if widget_id in read.widgets and read.widgets[widget_id].is_active
            ]
            return CartContents(kept, stale=read.stale, unshown=len(self.items) - len(kept))
        lines: list[CartLine] = []
        dropped: list[str] = []
        for widget_id, quantity in self.items.items():
            widget = read.widgets.get(widget_id)
            if widget is None or not widget.is_active:
                dropped.append(widget.name if widget else "A widget that is no longer sold")
            else:
                lines.append(CartLine(widget, quantity))
        if dropped:
            self.items = {line.widget.id: line.quantity for line in lines}
            self._save()
        return CartContents(lines, dropped)

    def _save(self) -> None:
        self.session[SESSION_KEY] = {str(k): v for k, v in self.items.items()}
