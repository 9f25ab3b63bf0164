"""The last good copy of each widget a shopper may have in a cart, for when the database is down.

Written when a product page is rendered (the page a widget is added to the
cart from) and when the cart reads a widget from the database; kept for
`CATALOG_CACHE_KEEP`. While the database cannot be reached, the cart shows,
adds, updates and removes from these copies and the signed session cookie;
checkout, which must read prices and stock under lock, waits for the
database.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.conf import settings

from catalog.caching.copies import Copy
from catalog.models import Widget
from core.cache import FailSafeCache

PREFIX = "widget:"


def _cache() -> FailSafeCache:
    return FailSafeCache(name="widgets")


def remember(widgets: Iterable[Widget]) -> None:
    """Keep these widgets, as just read from the database."""
    now = time.time()
    copies = {f"{PREFIX}{widget.pk}": Copy(widget, 0, now) for widget in widgets}
    if copies:
        _cache().set_many(copies, settings.CATALOG_CACHE_KEEP)


def recall(ids: Iterable[int]) -> dict[int, Copy[Widget]]:
    """The kept copies of these widgets (those the cache still has).

    Asked only once the database has failed, so the cache's last resort: past
    its breaker, with CACHE_OUTAGE_TIMEOUT_MS (core/cache/failsafe.py).
    """
    found = _cache().get_many((f"{PREFIX}{widget_id}" for widget_id in ids), last_resort=True)
    return {copy.value.pk: copy for copy in found.values() if isinstance(copy, Copy)}
