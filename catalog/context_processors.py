"""What the base layout shows on every page: the category menu and the cart badge."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from catalog.cart import Cart
from catalog.categories import CategoryTree, category_tree

_NO_CATEGORIES = CategoryTree([])


def storefront(request: HttpRequest) -> dict[str, Any]:
    """The menu only on the storefront's own pages, read lazily; the cart count from the cookie.

    A page for an unknown URL (the 404), the admin and the probes never query
    for the menu: they must render while the database is struggling.
    """
    match = getattr(request, "resolver_match", None)
    on_storefront = match is not None and match.app_name == "catalog"
    return {
        "category_tree": SimpleLazyObject(lambda: category_tree(request))
        if on_storefront
        else _NO_CATEGORIES,
        "cart_count": Cart(request.session).count,
    }
