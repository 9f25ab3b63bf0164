"""The read-only JSON API: the listings' filters and search, DRF-shaped pages, JSON errors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from tests.catalog.conftest import MakeWidgets, Shop


def test_widgets_come_in_pages_with_next_and_previous_links(
    client: Client, make_widgets: MakeWidgets
) -> None:
    """Links use the canonical query string (page 1 is no parameter), whatever was sent."""
    make_widgets(5)

    body = client.get("/api/widgets/?page_size=2&page=2&sort=name&utm_source=x").json()

    assert (body["count"], len(body["results"]), body["next"], body["previous"]) == (
        5,
        2,
        "http://testserver/api/widgets/?sort=name&page=3&page_size=2",
        "http://testserver/api/widgets/?sort=name&page_size=2",
    )


def test_a_widget_is_described_with_money_as_a_string(
    client: Client, make_widgets: MakeWidgets
) -> None:
    [widget] = make_widgets(1, price=Decimal("19.90"), sku="WW-000123", stock=4)

    body = client.get(f"/api/widgets/{widget.slug}/").json()

    assert {k: body[k] for k in ("sku", "price", "currency", "stock", "in_stock")} == {
        "sku": "WW-000123",
        "price": "19.90",
        "currency": "GBP",
        "stock": 4,
        "in_stock": True,
    }


def test_listing_filters_and_search_apply(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="Brass Sprocket", colour="red")
    make_widgets(1, name="Brass Gizmo", colour="red")
    make_widgets(1, name="Steel Sprocket", colour="blue")

    body = client.get("/api/widgets/?q=sprocket&colour=red").json()

    assert [w["name"] for w in body["results"]] == ["Brass Sprocket"]


def test_categories_list_the_tree_with_counts(
    client: Client, shop: Shop, make_widgets: MakeWidgets
) -> None:
    make_widgets(2, category=shop.chain)

    body = client.get("/api/categories/").json()

    assert {(c["path"], c["parent"], c["widget_count"]) for c in body["results"]} == {
        ("sprockets", None, 0),
        ("sprockets/chain-sprockets", "sprockets", 2),
        ("gizmos", None, 0),
    }


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("page=abc", 400),
        ("page=-1", 400),
        ("page=999999", 404),
        ("page_size=0", 400),
        ("page_size=1000", 400),
        ("page_size=%C2%B2", 400),
        ("page=%C2%B2", 400),
        ("page=1.0", 400),
        ("sort=random", 400),
        ("colour=plaid", 400),
        ("q=" + "x" * 10_000, 400),
    ],
)
def test_bad_input_is_a_json_error(
    client: Client, make_widgets: MakeWidgets, query: str, status: int
) -> None:
    make_widgets(2)

    response = client.get(f"/api/widgets/?{query}")

    assert (response.status_code, response["Content-Type"], "error" in response.json()) == (
        status,
        "application/json",
        True,
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=0", "The page number must be a whole number from 1."),
        ("page_size=0", "page_size must be a whole number from 1 to 100."),
        ("page=9", "There is no page 9: the last page is 1."),
        ("colour=plaid&page=0", "Invalid filters."),
    ],
)
def test_a_paging_error_is_said_as_it_is(
    client: Client, make_widgets: MakeWidgets, query: str, message: str
) -> None:
    make_widgets(2)

    assert client.get(f"/api/widgets/?{query}").json()["error"] == message


def test_an_unknown_slug_is_a_json_404(client: Client, shop: Shop) -> None:
    response = client.get("/api/widgets/no-such-widget/")

    assert (response.status_code, response.json()) == (404, {"error": "No widget with that slug."})


def test_the_api_is_read_only(client: Client, shop: Shop) -> None:
    assert client.post("/api/widgets/", {}).status_code == 405


@pytest.mark.parametrize("page_size", [1, 100])
def test_rendering_the_widget_list_costs_three_queries_whatever_the_page_size(
    client: Client,
    make_widgets: MakeWidgets,
    django_assert_num_queries: DjangoAssertNumQueries,
    page_size: int,
) -> None:
    make_widgets(100)

    # category tree, count, page (a render: the cached answer costs none)
    with django_assert_num_queries(3):
        body = client.get(f"/api/widgets/?page_size={page_size}").json()

    assert len(body["results"]) == page_size


def test_rendering_a_widget_costs_two_queries(
    client: Client, make_widgets: MakeWidgets, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    [widget] = make_widgets(1)

    # the widget, category tree
    with django_assert_num_queries(2):
        client.get(f"/api/widgets/{widget.slug}/")


def test_rendering_the_categories_costs_one_query_however_many_there_are(
    client: Client,
    shop: Shop,
    make_widgets: MakeWidgets,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    make_widgets(3)

    # categories with their widget counts
    with django_assert_num_queries(1):
        body = client.get("/api/categories/").json()

    assert len(body["results"]) == 3
