"""The listing selector without HTTP: plain parameters in, a page out, domain errors only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.http import QueryDict

from catalog.categories import CategoryTree
from catalog.forms import ApiListingForm, ListingForm
from catalog.models import Category
from catalog.selectors.listing import ListingQuery, PageNotFound, widget_listing
from tests.catalog.conftest import MakeWidgets, Shop


def tree() -> CategoryTree:
    return CategoryTree(Category.objects.all())


def test_the_form_hands_the_selector_plain_values(shop: Shop) -> None:
    form = ApiListingForm(
        QueryDict("q=+brass+&colour=red&colour=blue&min_price=5&in_stock=on&page=2&page_size=10"),
        tree=tree(),
    )

    assert form.is_valid()
    assert form.query() == ListingQuery(
        terms="brass",
        min_price=Decimal("5"),
        in_stock=True,
        colours=("blue", "red"),
        page=2,
        page_size=10,
    )


def test_the_pages_form_ignores_page_size(shop: Shop) -> None:
    form = ListingForm(QueryDict("page_size=%C2%B2"), tree=tree())

    assert (form.is_valid(), form.query().page_size) == (True, None)


def test_it_filters_orders_and_pages(make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="Cheap red", colour="red", price=Decimal("2.00"))
    make_widgets(1, name="Dear red", colour="red", price=Decimal("9.00"))
    make_widgets(1, name="Blue", colour="blue", price=Decimal("1.00"))

    listing = widget_listing(ListingQuery(colours=("red",), sort="-price"), tree=tree())

    assert ([w.name for w in listing.page], listing.count) == (["Dear red", "Cheap red"], 2)


def test_the_category_filter_wins_over_the_page_category(
    shop: Shop, make_widgets: MakeWidgets
) -> None:
    make_widgets(1, name="Chain", category=shop.chain)
    make_widgets(1, name="Gizmo", category=shop.gizmos)

    listing = widget_listing(ListingQuery(category="gizmos"), tree=tree(), within=shop.sprockets)

    assert [w.name for w in listing.page] == ["Gizmo"]


def test_a_typo_is_answered_with_near_spellings(make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="Brass sprocket")

    listing = widget_listing(ListingQuery(terms="sprokcet"), tree=tree())

    assert ([w.name for w in listing.page], listing.fuzzy) == (["Brass sprocket"], True)


def test_past_the_last_page_is_a_domain_error_without_a_status(
    make_widgets: MakeWidgets,
) -> None:
    make_widgets(3)

    with pytest.raises(PageNotFound) as missing:
        widget_listing(ListingQuery(page=4), tree=tree())

    assert (missing.value.number, missing.value.last, hasattr(missing.value, "status")) == (
        4,
        1,
        False,
    )
