"""What the database itself guarantees, whatever code writes to it."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from catalog.factories import CategoryFactory, WidgetFactory
from catalog.models import Category, Widget
from tests.catalog.conftest import Shop


def test_a_category_path_follows_its_parent(shop: Shop) -> None:
    assert (shop.chain.path, shop.chain.get_absolute_url()) == (
        "sprockets/chain-sprockets",
        "/c/sprockets/chain-sprockets/",
    )


def test_a_new_slug_moves_every_descendant_to_the_new_path(shop: Shop) -> None:
    CategoryFactory.create(name="Roller chain", slug="roller", parent=shop.chain)

    shop.sprockets.slug = "cogs"
    shop.sprockets.save()

    assert sorted(Category.objects.exclude(pk=shop.gizmos.pk).values_list("path", flat=True)) == [
        "cogs",
        "cogs/chain-sprockets",
        "cogs/chain-sprockets/roller",
    ]


def test_a_new_slug_leaves_categories_that_only_share_its_first_letters(shop: Shop) -> None:
    lookalike = CategoryFactory.create(name="Sprockets, large", slug="sprockets-large")

    shop.sprockets.slug = "cogs"
    shop.sprockets.save()

    assert Category.objects.get(pk=lookalike.pk).path == "sprockets-large"


def test_sibling_categories_need_distinct_slugs(shop: Shop) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        CategoryFactory.create(name="Again", slug="chain-sprockets", parent=shop.sprockets)


def test_stock_can_never_go_below_zero(shop: Shop) -> None:
    widget = WidgetFactory.create(category=shop.chain, stock=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        Widget.objects.filter(pk=widget.pk).update(stock=-1)


def test_the_search_vector_is_kept_up_to_date_by_postgresql(shop: Shop) -> None:
    widget = WidgetFactory.create(category=shop.chain, name="Brass Sprocket")
    Widget.objects.filter(pk=widget.pk).update(name="Copper Gizmo")

    assert Widget.objects.filter(search_vector="gizmo").get() == widget
