"""The product page: price, stock, attributes, related widgets, and a picture of its own."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from tests.catalog.conftest import MakeWidgets, Shop


def test_shows_price_stock_and_attributes(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(
        1, price=Decimal("1234.50"), stock=3, colour="red", size="xl", material="brass"
    )

    content = client.get(widget.get_absolute_url()).content.decode()

    assert all(
        text in content for text in ["£1,234.50", "Only 3 left", "Red", "Extra large", "Brass"]
    )


def test_sold_out_widgets_offer_no_add_to_cart(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, stock=0)

    content = client.get(widget.get_absolute_url()).content

    assert (b"Sold out" in content, b"Add to cart" in content) == (True, False)


def test_related_widgets_come_from_the_same_category(
    client: Client, shop: Shop, make_widgets: MakeWidgets
) -> None:
    [widget, sibling] = make_widgets(2, category=shop.chain)
    make_widgets(1, category=shop.gizmos)

    related = client.get(widget.get_absolute_url()).context["related"]

    assert list(related) == [sibling]


def test_breadcrumb_walks_the_category_tree(
    client: Client, shop: Shop, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, category=shop.chain)

    crumbs = client.get(widget.get_absolute_url()).context["breadcrumbs"]

    assert crumbs == [shop.sprockets, shop.chain]


@pytest.mark.parametrize("slug", ["no-such-widget", "withdrawn"])
def test_unknown_or_withdrawn_slug_is_the_friendly_404(
    client: Client, make_widgets: MakeWidgets, slug: str
) -> None:
    make_widgets(1, slug="withdrawn", is_active=False)

    response = client.get(f"/widgets/{slug}/")

    assert (response.status_code, b"We couldn't find that page" in response.content) == (
        404,
        True,
    )


def test_every_widget_has_a_generated_svg_picture(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, sku="WW-000777")

    response = client.get(widget.get_image_url())

    assert (response["Content-Type"], b"WW-000777" in response.content) == (
        "image/svg+xml",
        True,
    )


def test_product_images_have_alt_text(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1, name="Brass Sprocket")

    assert b'alt="Brass Sprocket: a' in client.get(widget.get_absolute_url()).content


@pytest.mark.parametrize("related", [0, 6])
def test_rendering_a_product_page_costs_three_queries(
    client: Client,
    make_widgets: MakeWidgets,
    django_assert_num_queries: DjangoAssertNumQueries,
    related: int,
) -> None:
    [widget] = make_widgets(1)
    make_widgets(related)

    # the widget, category tree, related widgets (a render: the cached page costs none)
    with django_assert_num_queries(3):
        client.get(widget.get_absolute_url())
