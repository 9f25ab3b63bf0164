"""Every kind of response carries the security headers, pinned one kind at a time.

The pages' Content-Security-Policy allows no inline script or style at all:
a template that adds one breaks in the browser (tests/catalog/test_browser.py
fails on any CSP violation) and here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.test.client import RequestFactory

from catalog.models import Widget
from core.http.headers import SVG_POLICY
from core.ratelimit.rates import Rate
from tests.catalog.conftest import MakeWidgets

PAGE_POLICY = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
)
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

Kind = Callable[[Client, Widget], str]
KINDS: dict[str, tuple[str, str]] = {
    # kind: (path, which Content-Security-Policy)
    "home page": ("/", "page"),
    "listing": ("/widgets/", "page"),
    "search": ("/search/?q=sprocket", "page"),
    "product page": ("WIDGET", "page"),
    "cart": ("/cart/", "page"),
    "not found page": ("/no-such-page/", "page"),
    "bad request page": ("/widgets/?page=x", "page"),
    "too many requests page": ("LIMITED", "page"),
    "JSON API": ("/api/widgets/", "page"),
    "probe": ("/livez", "page"),
    "security.txt": ("/.well-known/security.txt", "page"),
    "admin login": ("/admin/login/", "page"),
    "drawn SVG image": ("IMAGE", "svg"),
    "static stylesheet": ("/static/css/site.css", "page"),
    "static SVG": ("/static/img/logo.svg", "svg"),
}


def resolve(path: str, widget: Widget) -> str:
    return {"WIDGET": widget.get_absolute_url(), "IMAGE": widget.get_image_url()}.get(path, path)


@pytest.fixture
def headers_of(make_widgets: MakeWidgets) -> Callable[[str], dict[str, str]]:
    [widget] = make_widgets(1, name="Brass Sprocket")

    def get(path: str) -> dict[str, str]:
        client = Client()
        if path == "LIMITED":
            limits = {**settings.RATE_LIMITS, "search": {"address": Rate(1, 60)}}
            with override_settings(RATE_LIMITS=limits):
                client.get("/search/?q=cog")
                response = client.get("/search/?q=cog")
            assert response.status_code == 429
        else:
            with override_settings(WHITENOISE_USE_FINDERS=True):
                response = client.get(resolve(path, widget))
        assert response.status_code < 500
        return dict(response.headers)

    return get


def csp_directives(policy: str) -> set[str]:
    return {part.strip() for part in policy.split(";") if part.strip()}


@pytest.mark.parametrize(("path", "policy"), KINDS.values(), ids=KINDS.keys())
def test_content_security_policy(
    headers_of: Callable[[str], dict[str, str]], path: str, policy: str
) -> None:
    expected = set(PAGE_POLICY) if policy == "page" else csp_directives(SVG_POLICY)

    assert expected <= csp_directives(headers_of(path)["Content-Security-Policy"])


@pytest.mark.parametrize(("path", "policy"), KINDS.values(), ids=KINDS.keys())
def test_no_policy_ever_allows_inline_code(
    headers_of: Callable[[str], dict[str, str]], path: str, policy: str
) -> None:
    header = headers_of(path)["Content-Security-Policy"]

    assert not re.search(r"unsafe-inline|unsafe-eval|'nonce-|'sha(256|384|512)-", header)


@pytest.mark.parametrize(("path", "policy"), KINDS.values(), ids=KINDS.keys())
def test_permissions_policy_turns_off_what_the_shop_never_uses(
    headers_of: Callable[[str], dict[str, str]], path: str, policy: str
) -> None:
    header = headers_of(path)["Permissions-Policy"]

    assert {"camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"} <= {
        part.strip() for part in header.split(",")
    }


@pytest.mark.parametrize(("path", "policy"), KINDS.values(), ids=KINDS.keys())
def test_common_security_headers(
    headers_of: Callable[[str], dict[str, str]], path: str, policy: str
) -> None:
    headers = headers_of(path)

    assert {name: headers.get(name) for name in COMMON} == COMMON


@pytest.mark.django_db
def test_security_txt_names_the_contact_and_a_future_expiry(client: Client) -> None:
    with override_settings(SECURITY_TXT_CONTACT=["mailto:security@shop.example.com"]):
        text = client.get("/.well-known/security.txt").content.decode()

    fields = dict(line.split(": ", 1) for line in text.splitlines())
    assert (fields["Contact"], fields["Expires"] > "2026") == (
        "mailto:security@shop.example.com",
        True,
    )


def test_security_txt_is_canonical_for_the_host_it_was_asked_on() -> None:
    from core.http.security_txt import security_txt

    request = RequestFactory().get("/.well-known/security.txt", secure=True)
    text = security_txt(request).content.decode()

    assert "Canonical: https://testserver/.well-known/security.txt" in text.splitlines()
