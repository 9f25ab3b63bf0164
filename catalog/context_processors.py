"""What the base layout shows on every page: the category menu and the cart badge."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from catalog.cart import Cart
from catalog.categories import category_tree


def storefront(request: HttpRequest) -> dict[str, Any]:
    # The tree is lazy: a template that never shows the menu never queries
    # for it. The cart count is read from the session cookie: no query.
    return {
        "category_tree": SimpleLazyObject(lambda: category_tree(request)),
        "cart_count": Cart(request.session).count,
    }
