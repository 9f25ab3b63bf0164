"""`manage.py warm_cache`: the pages shoppers hit first are in the cache before the first surge."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from catalog.models import Widget
from catalog.selectors.widgets import most_wanted
from catalog.services.checkout import Customer, place_order
from tests.catalog.conftest import MakeWidgets, Shop
from tests.catalog.test_page_cache import HIT

BUYER = Customer("Ada Lovelace", "ada@example.com", "12 Analytical Row", "London", "N1 9GU", "GB")


def warm(*args: str) -> str:
    out = io.StringIO()
    call_command("warm_cache", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_after_warming_the_first_pages_cost_no_query(
    client: Client,
    shop: Shop,
    make_widgets: MakeWidgets,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    make_widgets(30)
    warm("--listing-pages", "2", "--products", "1")
    [wanted] = most_wanted(1, days=30)
    first = ["/", "/widgets/", "/widgets/?page=2", "/c/sprockets/", "/c/sprockets/chain-sprockets/"]
    first += ["/c/gizmos/", wanted.get_absolute_url()]

    with django_assert_num_queries(0):
        statuses = {url: client.get(url)["Cache-Status"] for url in first}

    assert statuses == dict.fromkeys(first, HIT)


def test_a_second_run_finds_every_page_current(shop: Shop, make_widgets: MakeWidgets) -> None:
    make_widgets(3)
    warm("--products", "3")

    assert "0 rendered, 8 already current" in warm("--products", "3")


def test_listing_pages_past_the_last_are_not_asked_for(
    shop: Shop, make_widgets: MakeWidgets
) -> None:
    make_widgets(3)

    # home, one listing page (not three), three categories, no products
    assert "Warmed 5 pages" in warm("--listing-pages", "3", "--products", "0")


def test_with_the_cache_away_it_says_so_and_the_deploy_goes_on(
    shop: Shop,
    make_widgets: MakeWidgets,
    cache_stopped: None,
) -> None:
    make_widgets(1)

    assert "nothing was kept" in warm()


def test_the_most_ordered_products_come_first_then_the_newest(make_widgets: MakeWidgets) -> None:
    old, popular, newest = make_widgets(3)
    Widget.objects.filter(pk=old.pk).update(created_at=old.created_at.replace(year=2000))
    place_order(key=uuid.uuid4(), customer=BUYER, lines={popular.pk: 3})

    assert [w.pk for w in most_wanted(2, days=30)] == [popular.pk, newest.pk]


@pytest.mark.parametrize("option", ["--products", "--listing-pages", "--days"])
def test_negative_numbers_are_refused(option: str, db: None) -> None:
    with pytest.raises(Exception, match="must be 0 or more"):
        warm(option, "-1")
