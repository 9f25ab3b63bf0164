"""Widgets for the cart and for warming the cache.

Widgets by id for the cart: from the database, or the last good copies while it is down.

The cart must keep working while the database cannot be reached (issue 9):
shoppers see, add, change and remove lines from the signed session cookie
and the copies catalog/caching/products.py keeps. What comes from a copy
says so (`stale`), so the page can tell the shopper and checkout can wait.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Sum
from django.utils import timezone

from catalog.caching import products
from catalog.caching.degraded import Stale, reason_of
from catalog.models import Widget
from core.db.backends.postgresql.errors import ConnectionUnavailable


@dataclass(frozen=True)
class WidgetsRead:
    widgets: dict[int, Widget] = field(default_factory=dict)
    # Set when these are the last good copies, not today's rows.
    stale: Stale | None = None


def widgets_by_id(ids: Iterable[int]) -> WidgetsRead:
    """Today's widgets (active or not) in one query, or their last good copies."""
    wanted = list(ids)
    if not wanted:
        return WidgetsRead()
    try:
        found = Widget.objects.in_bulk(wanted)
    except ConnectionUnavailable as error:
        copies = products.recall(wanted)
        made_at = min((copy.made_at for copy in copies.values()), default=time.time())
        stale = Stale.at(reason_of(error), made_at, error.retry_after)
        return WidgetsRead({pk: copy.value for pk, copy in copies.items()}, stale)
    products.remember(found.values())
    return WidgetsRead(found)


def widget_for_cart(pk: int) -> tuple[Widget | None, Stale | None]:
    """The widget if it is on sale, from its last good copy while the database is down.

    Raises the pool's error when the database is down and no copy is kept:
    nothing is known of that widget, so nothing can be added.
    """
    try:
        widget = Widget.objects.filter(pk=pk).first()
    except ConnectionUnavailable as error:
        copy = products.recall([pk]).get(pk)
        if copy is None:
            raise
        stale: Stale | None = Stale.at(reason_of(error), copy.made_at, error.retry_after)
        widget = copy.value
    else:
        stale = None
        if widget is not None:
            products.remember([widget])
    return (widget if widget is not None and widget.is_active else None), stale


def most_wanted(count: int, *, days: int) -> list[Widget]:
    """The products shoppers are likeliest to open first: the most ordered of the last `days`,
    topped up with the newest (the home page's "New in").

    Orders stand in for views: counting views would cost a write on every
    page a shopper opens, which is what the cache exists to avoid.
    """
    on_sale = Widget.objects.filter(is_active=True)
    since = timezone.now() - dt.timedelta(days=days)
    ranked = (
        on_sale.filter(order_lines__order__created_at__gte=since)
        .annotate(units=Sum("order_lines__quantity"))
        .order_by("-units", "id")[:count]
    )
    chosen: list[Widget] = list(ranked)
    if len(chosen) < count:
        newest = on_sale.exclude(pk__in=[w.pk for w in chosen]).order_by("-created_at", "-id")
        chosen += list(newest[: count - len(chosen)])
    return chosen
