"""What the shoppers read off pages, read off pages the real templates render.

The client enforces CSRF, as a server does, so a form the load test could not
submit fails here rather than as a thousand failures in a release run.
"""

from __future__ import annotations

import random

import pytest
from django.test import Client

from catalog.factories import CategoryFactory, WidgetFactory
from catalog.models import Category, Widget
from loadtests.pages import form_fields, next_page, product_links
from loadtests.users import customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def category() -> Category:
    return CategoryFactory.create(name="Sprockets", slug="sprockets")


@pytest.fixture
def widget(category: Category) -> Widget:
    return WidgetFactory.create(category=category, stock=5)


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def text(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.content.decode()


def test_a_listing_links_to_its_products(browser: Client, category: Category) -> None:
    widgets = [WidgetFactory.create(category=category, stock=3) for _ in range(3)]

    links = product_links(text(browser, "/c/sprockets/"))

    assert set(links) == {w.get_absolute_url() for w in widgets}


def test_the_next_page_keeps_the_filters(browser: Client, category: Category) -> None:
    for _ in range(30):
        WidgetFactory.create(category=category, colour="red", stock=3)
    first = "/c/sprockets/?colour=red&sort=price"

    second = next_page(text(browser, first), first)

    assert second is not None
    assert (sorted(second.split("?")[1].split("&")), next_page(text(browser, second), second)) == (
        ["colour=red", "page=2", "sort=price"],
        None,
    )


def test_the_product_pages_form_adds_to_the_cart(browser: Client, widget: Widget) -> None:
    fields = form_fields(text(browser, widget.get_absolute_url()), "/cart/add/")
    assert fields is not None

    response = browser.post("/cart/add/", {**fields, "quantity": "1"})

    assert response.status_code == 302


def test_a_sold_out_product_has_no_form_to_add(browser: Client, category: Category) -> None:
    sold_out = WidgetFactory.create(category=category, stock=0)

    assert form_fields(text(browser, sold_out.get_absolute_url()), "/cart/add/") is None


def test_the_checkout_form_places_an_order_and_a_resubmission_finds_it(
    browser: Client, widget: Widget
) -> None:
    add = form_fields(text(browser, widget.get_absolute_url()), "/cart/add/")
    browser.post("/cart/add/", {**(add or {}), "quantity": "1"})
    checkout = form_fields(text(browser, "/checkout/"), "/checkout/")
    assert checkout is not None
    data = {**checkout, **customer(random.Random(1))}

    placed, again = browser.post("/checkout/", data), browser.post("/checkout/", data)

    assert (placed.status_code, again.status_code, again["Location"]) == (
        303,
        303,
        placed["Location"],
    )
