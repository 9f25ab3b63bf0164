"""Search on the real database: weighted, ranked, websearch syntax, typo-tolerant, safe."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from catalog.models import Widget
from tests.catalog.conftest import MakeWidgets


def found(client: Client, query: str, extra: str = "") -> list[str]:
    response = client.get("/search/", {"q": query} | dict([extra.split("=")] if extra else []))
    assert response.status_code == 200, response.content
    return [widget.name for widget in response.context["page"]]


def test_a_name_match_outranks_a_description_match(
    client: Client, make_widgets: MakeWidgets
) -> None:
    make_widgets(1, name="Garden Gizmo", description="Pairs well with any sprocket.")
    make_widgets(1, name="Brass Sprocket", description="A sturdy part.")

    assert found(client, "sprocket") == ["Brass Sprocket", "Garden Gizmo"]


def test_plurals_find_the_singular(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="Brass Sprocket")

    assert found(client, "sprockets") == ["Brass Sprocket"]


def test_a_sku_finds_its_widget(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="Brass Sprocket", sku="WW-424242")
    make_widgets(1, name="Steel Sprocket", sku="WW-111111")

    assert found(client, "ww-424242") == ["Brass Sprocket"]


def test_websearch_syntax_excludes_and_quotes(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="Brass Gear")
    make_widgets(1, name="Steel Gear")
    make_widgets(1, name="Gear Brass Bracket")

    assert found(client, '"brass gear" -steel') == ["Brass Gear"]


def test_a_typo_falls_back_to_similar_names(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="Brass Sprocket")
    make_widgets(1, name="Garden Gizmo")

    response = client.get("/search/", {"q": "sprokcet"})

    assert ([w.name for w in response.context["page"]], response.context["fuzzy"]) == (
        ["Brass Sprocket"],
        True,
    )


def test_search_applies_the_listing_filters(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="Red Sprocket", colour="red")
    make_widgets(1, name="Blue Sprocket", colour="blue")

    assert found(client, "sprocket", "colour=blue") == ["Blue Sprocket"]


def test_nothing_found_says_so(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(1, name="Brass Sprocket")

    response = client.get("/search/", {"q": "xylophone"})

    assert b"No widgets match" in response.content


def test_an_empty_search_explains_how_to_search(client: Client, make_widgets: MakeWidgets) -> None:
    response = client.get("/search/", {"q": "   "})

    assert (response.status_code, b"Type what you are looking for" in response.content) == (
        200,
        True,
    )


def test_a_10000_character_search_is_a_clear_400(client: Client, make_widgets: MakeWidgets) -> None:
    response = client.get("/search/", {"q": "sprocket " * 1112})

    assert (response.status_code, b"limited to 200 characters" in response.content) == (400, True)


@pytest.mark.parametrize(
    "attack",
    [
        "'; DROP TABLE catalog_widget; --",
        "sprocket' OR '1'='1",
        "!!! & | :* <-> ((",
    ],
)
def test_sql_in_the_search_box_is_only_ever_searched_for(
    client: Client, make_widgets: MakeWidgets, attack: str
) -> None:
    make_widgets(2)

    response = client.get("/search/", {"q": attack})

    assert (response.status_code, Widget.objects.count()) == (200, 2)


def test_a_nul_character_is_refused_not_sent_to_postgresql(
    client: Client, make_widgets: MakeWidgets
) -> None:
    assert client.get("/search/", {"q": "gear\x00"}).status_code == 400


def test_html_in_the_search_box_is_escaped(client: Client, make_widgets: MakeWidgets) -> None:
    response = client.get("/search/", {"q": "<script>alert(1)</script>"})

    assert (b"<script>alert" not in response.content, b"&lt;script&gt;" in response.content) == (
        True,
        True,
    )


@pytest.mark.parametrize("count", [1, 30])
@pytest.mark.parametrize(
    ("query", "queries"),
    [
        # category tree, any full-text match?, count, page (a render: cached, none)
        ("sprocket", 4),
        # ... and the similarity threshold for the fallback's transaction
        ("sprokcet", 5),
    ],
    ids=["words", "typo"],
)
def test_rendering_a_search_costs_a_fixed_number_of_queries_whatever_the_page_holds(
    client: Client,
    make_widgets: MakeWidgets,
    django_assert_num_queries: DjangoAssertNumQueries,
    count: int,
    query: str,
    queries: int,
) -> None:
    make_widgets(count, name="Brass Sprocket")

    with django_assert_num_queries(queries):
        response = client.get("/search/", {"q": query})

    assert response.context["page"].paginator.count == count
