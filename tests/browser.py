"""Debian's Chromium, driven by Playwright, for the tests that need a real browser.

Every page is watched for Content-Security-Policy violations: a template that
adds an inline script or style breaks in the browser, and so in the test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.db import connections
from playwright.sync_api import ConsoleMessage, Page, sync_playwright

from tests.tools import require

# As the guide says: headless, and no sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Browser:
    page: Page
    csp_violations: list[str] = field(default_factory=list)

    def watch(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)


@contextlib.contextmanager
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    executable = require("chromium", "chromium")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the
    # test (and pytest-django's teardown) make meanwhile are still plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        watched = Browser(context.new_page())
        watched.page.on("console", watched.watch)
        yield watched
        browser.close()
        # With the event loop there, the ORM gave this test connections of its
        # own; close them, or the test database cannot be dropped.
        connections.close_all()
