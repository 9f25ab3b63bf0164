"""What the base layout shows on every page: the category menu and the cart badge."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from catalog.cart import Cart
from catalog.categories import category_tree


def storefront(request: HttpRequest) -> dict[str, Any]:
    # Lazy: a page that never shows the menu (the JSON API renders no
    # template; a plain error page may not) never queries for it.
    return {
        "category_tree": SimpleLazyObject(lambda: category_tree(request)),
        "cart_count": SimpleLazyObject(lambda: Cart(request.session).count),
    }
