"""What the base layout shows on every page: the category menu, the cart, the stale banner.

The cart and the banner are per shopper: cached pages render them per request
as fragments (catalog/caching/fragments.py), from these values, which need no
query.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from catalog.caching.degraded import stale_of
from catalog.cart import Cart
from catalog.categories import CategoryTree, category_tree

_NO_CATEGORIES = CategoryTree([])


def storefront(request: HttpRequest) -> dict[str, Any]:
    """The menu only on the storefront's own pages, read lazily; the cart from the cookie.

    A page for an unknown URL (the 404), the admin and the probes never look
    up the menu: they must render while the database is struggling.
    """
    match = getattr(request, "resolver_match", None)
    on_storefront = match is not None and match.app_name == "catalog"
    cart = Cart(request.session)
    return {
        "category_tree": SimpleLazyObject(lambda: category_tree(request))
        if on_storefront
        else _NO_CATEGORIES,
        "cart": cart,
        "cart_count": cart.count,
        "stale": stale_of(request),
    }
