"""A small catalog every storefront test can stand on: two departments, one with a sub-category."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from catalog.factories import CategoryFactory, WidgetFactory
from catalog.models import Category, Widget


@dataclass
class Shop:
    sprockets: Category
    chain: Category
    gizmos: Category


@pytest.fixture
def shop(db: None) -> Shop:
    sprockets = CategoryFactory.create(name="Sprockets", slug="sprockets")
    return Shop(
        sprockets=sprockets,
        chain=CategoryFactory.create(
            name="Chain sprockets", slug="chain-sprockets", parent=sprockets
        ),
        gizmos=CategoryFactory.create(name="Gizmos", slug="gizmos"),
    )


MakeWidgets = Callable[..., list[Widget]]


@pytest.fixture
def make_widgets(shop: Shop) -> MakeWidgets:
    """`make_widgets(n, **fields)`: n in-stock widgets, in Chain sprockets unless told."""

    def make(count: int, **fields: Any) -> list[Widget]:
        fields.setdefault("category", shop.chain)
        fields.setdefault("stock", 10)
        # Not create_batch: its first parameter is called `size`, like a widget attribute.
        return [WidgetFactory.create(**fields) for _ in range(count)]

    return make
