"""Listings: filters, sorts, stable pages, and bad input answered clearly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from catalog.factories import WidgetFactory
from tests.catalog.conftest import MakeWidgets, Shop


def names(response: object) -> list[str]:
    return [widget.name for widget in response.context["page"]]  # type: ignore[attr-defined]


def test_category_page_lists_its_subcategories_widgets(
    client: Client, shop: Shop, make_widgets: MakeWidgets
) -> None:
    make_widgets(2, category=shop.chain)
    make_widgets(1, category=shop.gizmos)

    response = client.get("/c/sprockets/")

    assert response.context["page"].paginator.count == 2


def test_subcategory_has_a_readable_nested_url(client: Client, shop: Shop) -> None:
    response = client.get("/c/sprockets/chain-sprockets/")

    assert (response.status_code, response.context["category"]) == (200, shop.chain)


def test_unknown_category_is_the_friendly_404(client: Client, shop: Shop) -> None:
    response = client.get("/c/sprockets/no-such-thing/")

    assert (response.status_code, "404.html") == (404, response.templates[0].name)


def test_inactive_widgets_are_never_listed(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="On sale")
    make_widgets(1, name="Withdrawn", is_active=False)

    assert names(client.get("/widgets/")) == ["On sale"]


def test_pages_hold_24_and_show_the_result_count(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(30)

    response = client.get("/widgets/?page=2")

    assert (len(response.context["page"]), b"30 widgets" in response.content) == (6, True)


def test_equal_prices_page_in_a_stable_order(client: Client, make_widgets: MakeWidgets) -> None:
    widgets = make_widgets(30, price=Decimal("9.99"))

    first = client.get("/widgets/?sort=price").context["page"]
    second = client.get("/widgets/?sort=price&page=2").context["page"]

    assert [w.id for w in [*first, *second]] == sorted(w.id for w in widgets)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("price", ["Cheap", "Middling", "Dear"]),
        ("-price", ["Dear", "Middling", "Cheap"]),
        ("name", ["Cheap", "Dear", "Middling"]),
        ("newest", ["Middling", "Dear", "Cheap"]),
    ],
)
def test_sorts(client: Client, make_widgets: MakeWidgets, sort: str, expected: list[str]) -> None:
    now = timezone.now()
    make_widgets(1, name="Cheap", price=Decimal("1.00"), created_at=now - dt.timedelta(days=3))
    make_widgets(1, name="Dear", price=Decimal("90.00"), created_at=now - dt.timedelta(days=2))
    make_widgets(1, name="Middling", price=Decimal("9.00"), created_at=now - dt.timedelta(days=1))

    assert names(client.get(f"/widgets/?sort={sort}")) == expected


def test_relevance_puts_what_is_in_stock_first(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="Sold out", stock=0)
    make_widgets(1, name="Available", stock=3)

    assert names(client.get("/widgets/")) == ["Available", "Sold out"]


def test_filters_combine(client: Client, shop: Shop, make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="Match", colour="red", material="brass", price=Decimal("20"))
    make_widgets(1, name="Wrong colour", colour="blue", material="brass", price=Decimal("20"))
    make_widgets(1, name="Too dear", colour="red", material="brass", price=Decimal("80"))
    make_widgets(1, name="Sold out", colour="red", material="brass", price=Decimal("20"), stock=0)
    make_widgets(1, name="Elsewhere", colour="red", material="brass", category=shop.gizmos)

    response = client.get(
        "/widgets/?category=sprockets&colour=red&material=brass&min_price=10&max_price=50&in_stock=on"
    )

    assert names(response) == ["Match"]


def test_several_values_of_one_attribute_mean_any_of_them(
    client: Client, make_widgets: MakeWidgets
) -> None:
    make_widgets(1, name="Small", size="s")
    make_widgets(1, name="Large", size="l")
    make_widgets(1, name="Medium", size="m")

    assert sorted(names(client.get("/widgets/?size=s&size=l"))) == ["Large", "Small"]


@pytest.mark.parametrize(
    "query",
    [
        "page=abc",
        "page=-1",
        "page=0",
        "page=1.5",
        "page=%C2%B2",
        "page=1234567890",
        "sort=cheapest",
        "colour=plaid",
        "size=huge",
        "material=cheese",
        "category=no-such-category",
        "min_price=cheap",
        "min_price=-5",
        "min_price=50&max_price=10",
        "max_price=1e400",
    ],
)
def test_bad_query_strings_are_a_clear_400(
    client: Client, make_widgets: MakeWidgets, query: str
) -> None:
    make_widgets(3)

    response = client.get(f"/widgets/?{query}")

    assert (response.status_code, "catalog/listing.html") == (400, response.templates[0].name)


def test_a_bad_page_number_says_what_a_page_number_is(
    client: Client, make_widgets: MakeWidgets
) -> None:
    make_widgets(3)

    response = client.get("/widgets/?page=abc")

    assert b"The page number must be a whole number from 1." in response.content


def test_a_page_past_the_end_is_a_friendly_404(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(3)

    response = client.get("/widgets/?page=999999")

    assert (response.status_code, b"the last page is 1" in response.content) == (404, True)


def test_page_one_of_nothing_is_an_empty_page_not_an_error(client: Client, shop: Shop) -> None:
    response = client.get("/c/gizmos/")

    assert (response.status_code, b"No widgets match" in response.content) == (200, True)


def test_unknown_parameters_are_ignored(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(1)

    assert client.get("/widgets/?utm_source=newsletter").status_code == 200


@pytest.mark.parametrize("count", [1, 30])
def test_rendering_a_listing_costs_three_queries_whatever_the_page_holds(
    client: Client,
    make_widgets: MakeWidgets,
    django_assert_num_queries: DjangoAssertNumQueries,
    count: int,
) -> None:
    make_widgets(count, colour="red", size="s")

    # category tree, count, page (a render: the cached page costs none)
    with django_assert_num_queries(3):
        response = client.get(
            "/widgets/?colour=red&colour=blue&size=s&size=m&sort=price&in_stock=on"
        )

    assert len(response.context["page"]) == min(count, 24)


@pytest.mark.parametrize("count", [1, 30])
def test_rendering_a_category_page_costs_three_queries_whatever_the_page_holds(
    client: Client,
    make_widgets: MakeWidgets,
    django_assert_num_queries: DjangoAssertNumQueries,
    count: int,
) -> None:
    make_widgets(count)

    with django_assert_num_queries(3):
        client.get("/c/sprockets/")


@pytest.mark.parametrize("count", [0, 12])
def test_rendering_home_costs_two_queries(
    client: Client, shop: Shop, django_assert_num_queries: DjangoAssertNumQueries, count: int
) -> None:
    WidgetFactory.create_batch(count, category=shop.gizmos, stock=5)

    # category tree, new widgets
    with django_assert_num_queries(2):
        response = client.get("/")

    assert len(response.context["featured"]) == min(count, 8)


def test_the_404_for_an_unknown_url_never_queries_the_database(
    client: Client, shop: Shop, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(0):
        response = client.get("/no/such/page/")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "min_price=NaN",
        "max_price=Infinity",
        "page=%C2%B2",
        "page=%D9%A3",
        "q=a%00b",
        "sort=price&sort=name",
        "page=1&page=2",
    ],
)
@pytest.mark.parametrize("path", ["/widgets/", "/api/widgets/"])
def test_strange_input_is_a_400_with_its_reason(
    client: Client, make_widgets: MakeWidgets, path: str, query: str
) -> None:
    make_widgets(1)

    response = client.get(f"{path}?{query}")

    assert response.status_code == 400
