"""Template filters for money, stock and the cart, so every page says them the same way."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.conf import settings

from catalog.cart import Cart

register = template.Library()

SYMBOLS = {"GBP": "\u00a3", "EUR": "\u20ac", "USD": "$"}


@register.filter
def money(amount: Decimal | None, currency: str | None = None) -> str:
    """£1,234.50; codes without a well-known symbol read "1,234.50 CHF"."""
    if amount is None:
        return ""
    code = currency or settings.CURRENCY
    formatted = f"{amount:,.2f}"
    symbol = SYMBOLS.get(code)
    return f"{symbol}{formatted}" if symbol else f"{formatted} {code}"


@register.filter
def in_cart(cart: Cart | None, widget_id: int) -> int:
    """How many of this widget the shopper's cart holds (the cart is the context's `cart`)."""
    return cart.quantity_of(widget_id) if cart is not None else 0
