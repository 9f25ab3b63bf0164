"""A shopper's whole journey in a real browser: Debian's Chromium, driven by Playwright.

Home -> category -> search -> product -> add to cart -> checkout -> confirmation,
with a screenshot of every step in test-artifacts/browser/ for a human to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from catalog.factories import CategoryFactory, WidgetFactory
from catalog.models import Order, Widget
from tests.browser import Browser, chromium

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with chromium(monkeypatch) as watched:
        yield watched


@pytest.fixture
def page(browser: Browser) -> Page:
    return browser.page


def snap(page: Page, step: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{step}.png"), full_page=True)


@pytest.fixture
def catalog(transactional_db: None) -> Widget:
    sprockets = CategoryFactory.create(name="Sprockets", slug="sprockets")
    chain = CategoryFactory.create(name="Chain sprockets", slug="chain-sprockets", parent=sprockets)
    CategoryFactory.create(name="Gizmos", slug="gizmos")
    for _ in range(6):
        WidgetFactory.create(category=chain, stock=20, material="steel", kind="Cog")
    return WidgetFactory.create(
        category=chain, name="Brass Chain Sprocket", price=Decimal("12.50"), stock=8
    )


def test_a_shopper_finds_buys_and_gets_an_order_number(
    catalog: Widget, live_server: LiveServer, browser: Browser, page: Page
) -> None:
    # The database first: set up before the live server, it is torn down after
    # the server's threads let go of their connections.
    base = live_server.url

    page.goto(base + "/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    expect(page.get_by_role("heading", level=1)).to_have_text("Widgets for every workshop")
    snap(page, "01-home")

    page.get_by_role("navigation", name="Categories").get_by_role("link", name="Sprockets").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sprockets")
    expect(page.get_by_role("status").first).to_contain_text("7 widgets")
    snap(page, "02-category")
    page.set_viewport_size({"width": 390, "height": 844})
    snap(page, "02-category-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("Search widgets").fill("brass sprocket")
    page.get_by_label("Search widgets").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("brass sprocket")
    snap(page, "03-search")

    page.get_by_role("link", name="Brass Chain Sprocket").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Brass Chain Sprocket")
    snap(page, "04-product")

    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your cart")
    expect(page.locator(".grand-total")).to_have_text("£29.95")  # 2 x 12.50 + 4.95 shipping
    snap(page, "05-cart")

    page.get_by_role("link", name="Check out").click()
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("not an email")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("alert").first).to_contain_text("correct the fields")
    snap(page, "06-checkout-errors")

    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("textbox", name="Address", exact=True).fill("12 Analytical Row")
    page.get_by_label("City").fill("London")
    page.get_by_label("Postcode").fill("N1 9GU")
    page.get_by_label("Country").select_option("GB")
    snap(page, "07-checkout")
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you, your order is placed")
    snap(page, "08-confirmation")
    order = Order.objects.get()
    catalog.refresh_from_db()
    assert (page.locator(".order-number").inner_text(), catalog.stock, browser.csp_violations) == (
        order.number,
        6,
        [],
    )
