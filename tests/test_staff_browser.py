"""Logging in to the back office in a real browser: a password and a one-time code, or a lockout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from tests.browser import Browser, chromium
from tests.staff import PASSWORD, current_code, make_staff

pytestmark = pytest.mark.slow


@pytest.fixture
def browser(transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    with chromium(monkeypatch) as watched:
        yield watched


def fill_login(page: Page, username: str, password: str, code: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_label("OTP Token").fill(code)
    page.get_by_role("button", name="Log in").click()


def test_staff_log_in_with_a_password_and_a_code(live_server: object, browser: Browser) -> None:
    user, device = make_staff()
    page = browser.page

    page.goto(f"{live_server.url}/admin/")  # type: ignore[attr-defined]
    fill_login(page, user.username, PASSWORD, current_code(device))

    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    assert browser.csp_violations == []


def test_a_password_without_a_code_stays_outside(live_server: object, browser: Browser) -> None:
    user, _ = make_staff()
    page = browser.page

    page.goto(f"{live_server.url}/admin/")  # type: ignore[attr-defined]
    fill_login(page, user.username, PASSWORD, "")

    expect(page.locator(".errornote")).to_be_visible()


def test_repeated_wrong_codes_end_on_the_lockout_page(
    live_server: object, browser: Browser
) -> None:
    user, _ = make_staff()
    page = browser.page
    page.goto(f"{live_server.url}/admin/")  # type: ignore[attr-defined]
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        fill_login(page, user.username, PASSWORD, "000000")
        expect(page.locator(".errornote")).to_be_visible()

    fill_login(page, user.username, PASSWORD, "000000")

    expect(page.get_by_role("heading", name="Too many failed logins")).to_be_visible()
