"""The catalog the suites read at start, and the filters and search terms they make from it."""

from __future__ import annotations

import random
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.test import Client
from pytest_django.live_server_helper import LiveServer

from catalog.factories import CategoryFactory, WidgetFactory
from loadtests.live_catalog import Catalog, CatalogError, Product, fetch, misspell

WORDS = ("sprocket", "brass", "gizmo", "turbo", "bracket", "thingamajig")


def sample_catalog() -> Catalog:
    return Catalog(
        categories=("/c/sprockets/",),
        products=(Product("/widgets/a/", "WW-000001", "Turbo Brass Sprocket Mk I", True),),
        colours=("blue", "red"),
        sizes=("m", "s"),
        materials=("brass", "steel"),
        prices=(Decimal("2.50"), Decimal("99.99")),
        words=WORDS,
    )


@pytest.mark.parametrize("seed", range(20))
def test_a_misspelling_differs_but_keeps_the_first_letter_and_the_length_roughly(
    seed: int,
) -> None:
    word = WORDS[seed % len(WORDS)]

    typo = misspell(word, random.Random(seed))

    assert (typo != word, typo[0], abs(len(typo) - len(word)) <= 1) == (True, word[0], True)


def test_searches_mix_words_typos_skus_and_things_not_sold() -> None:
    rng = random.Random(7)
    terms = [sample_catalog().search_term(rng) for _ in range(400)]

    kinds = {
        "word": any(t in WORDS for t in terms),
        "two words": any(len(t.split()) == 2 and t.split()[0] in WORDS for t in terms),
        "typo": any(
            t not in WORDS and t[:3] in {w[:3] for w in WORDS} and " " not in t for t in terms
        ),
        "sku": "ww-000001" in terms,
        "phrase": any(t.startswith('"') for t in terms),
        "not sold": "unicorn" in terms or "teapot" in terms,
    }
    assert kinds == dict.fromkeys(kinds, True)


@pytest.mark.django_db
def test_every_filter_the_shoppers_tick_is_one_the_shop_accepts(client: Client) -> None:
    category = CategoryFactory.create(name="Sprockets", slug="sprockets")
    WidgetFactory.create(category=category, colour="red", size="m", material="brass")
    rng = random.Random(3)
    queries = [urlencode(sample_catalog().listing_filters(rng), doseq=True) for _ in range(60)]

    statuses = {client.get(f"/c/sprockets/?{query}").status_code for query in queries}

    assert statuses == {200}


@pytest.mark.django_db(transaction=True)
def test_the_catalog_is_read_from_the_json_api(live_server: LiveServer) -> None:
    category = CategoryFactory.create(name="Sprockets", slug="sprockets")
    widgets = [WidgetFactory.create(category=category, stock=stock) for stock in (0, 4, 9)]

    catalog = fetch(live_server.url)

    assert (catalog.categories, {p.path for p in catalog.products}, len(catalog.in_stock)) == (
        ("/c/sprockets/",),
        {w.get_absolute_url() for w in widgets},
        2,
    )


@pytest.mark.django_db(transaction=True)
def test_an_empty_shop_cannot_be_load_tested(live_server: LiveServer) -> None:
    with pytest.raises(CatalogError, match="empty catalog"):
        fetch(live_server.url)
