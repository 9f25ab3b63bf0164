"""Validators and cache headers: conditional requests get a 304; static files are cached forever."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from pytest_django import DjangoAssertNumQueries, DjangoCaptureOnCommitCallbacks

from catalog.models import Widget
from tests.catalog.conftest import MakeWidgets
from tests.catalog.shopping import add_to_cart

PAGES = ["/", "/widgets/", "/c/sprockets/", "/search/?q=sprocket", "WIDGET"]
API = ["/api/widgets/", "/api/categories/", "API_WIDGET"]


def url_for(path: str, widget: Widget) -> str:
    return {
        "WIDGET": widget.get_absolute_url(),
        "API_WIDGET": f"/api/widgets/{widget.slug}/",
    }.get(path, path)


@pytest.mark.parametrize("path", PAGES + API)
def test_a_conditional_get_of_an_unchanged_response_is_a_304(
    client: Client, make_widgets: MakeWidgets, path: str
) -> None:
    [widget] = make_widgets(1, name="Brass Sprocket")
    url = url_for(path, widget)
    etag = client.get(url)["ETag"]

    again = client.get(url, headers={"if-none-match": etag})

    assert (again.status_code, again.content) == (304, b"")


@pytest.mark.parametrize("path", PAGES + API)
def test_responses_carry_last_modified(
    client: Client, make_widgets: MakeWidgets, path: str
) -> None:
    [widget] = make_widgets(1, name="Brass Sprocket")

    response = client.get(url_for(path, widget))

    assert response.has_header("Last-Modified")


@pytest.mark.parametrize("path", ["/widgets/", "/api/widgets/"])
def test_head_requests_get_the_headers(
    client: Client, make_widgets: MakeWidgets, path: str
) -> None:
    make_widgets(1)

    response = client.head(path)

    assert (response.status_code, response.has_header("ETag"), response.content) == (
        200,
        True,
        b"",
    )


def test_a_304_costs_no_query(
    client: Client, make_widgets: MakeWidgets, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    make_widgets(30)
    etag = client.get("/widgets/")["ETag"]

    with django_assert_num_queries(0):
        response = client.get("/widgets/", headers={"if-none-match": etag})

    assert response.status_code == 304


def test_a_stock_change_changes_the_etag(
    client: Client,
    make_widgets: MakeWidgets,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    [widget] = make_widgets(1, stock=5)
    etag = client.get(widget.get_absolute_url())["ETag"]
    widget.stock = 4
    with django_capture_on_commit_callbacks(execute=True):
        widget.save()

    again = client.get(widget.get_absolute_url(), headers={"if-none-match": etag})

    assert again.status_code == 200


def test_a_change_to_the_cart_changes_the_page_etag(
    client: Client, make_widgets: MakeWidgets
) -> None:
    """The header shows the cart, so a page cached before adding to it must not be reused."""
    [widget] = make_widgets(1)
    etag = client.get("/widgets/")["ETag"]
    add_to_cart(client, widget)

    assert client.get("/widgets/", headers={"if-none-match": etag}).status_code == 200


def test_pages_are_private_and_always_revalidated(
    client: Client, make_widgets: MakeWidgets
) -> None:
    make_widgets(1)

    response = client.get("/widgets/")

    assert (set(response["Cache-Control"].split(", ")), "Cookie" in response["Vary"]) == (
        {"private", "no-cache"},
        True,
    )


def test_the_api_is_cacheable_by_a_cdn_which_may_serve_it_stale(
    client: Client, make_widgets: MakeWidgets
) -> None:
    """RFC 5861: stale while revalidating for a max-age, and while we fail for hours."""
    make_widgets(1)

    response = client.get("/api/widgets/")

    assert (response["Cache-Control"], response.cookies) == (
        "public, max-age=60, stale-while-revalidate=60, stale-if-error=21600",
        {},
    )


def test_error_pages_carry_no_validators(client: Client, make_widgets: MakeWidgets) -> None:
    make_widgets(1)

    response = client.get("/widgets/?page=abc")

    assert (response.status_code, response.has_header("ETag")) == (400, False)


def test_the_cart_and_checkout_are_never_cached(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1)
    add_to_cart(client, widget)

    headers = [client.get(url)["Cache-Control"] for url in ("/cart/", "/checkout/")]

    assert all("no-store" in header for header in headers)


def test_collected_static_files_are_hashed_and_cached_forever(tmp_path: Path) -> None:
    storage = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storage):
        call_command("collectstatic", interactive=False, verbosity=0)
        hashed = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]["css/site.css"]
        # A new client loads the middleware afresh, so WhiteNoise indexes tmp_path.
        response = Client().get(f"/static/{hashed}")

    assert (
        hashed != "css/site.css",
        response.status_code,
        response["Cache-Control"],
    ) == (True, 200, "max-age=315360000, public, immutable")
