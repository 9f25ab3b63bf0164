"""/api/openapi.json stays true: every API route is described, and live answers match it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver
from jsonschema import Draft202012Validator

from catalog.forms import ApiListingForm
from catalog.openapi import document
from tests.catalog.conftest import MakeWidgets, Shop

SPEC = document()


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for one schema of the document; its `#/components/...` refs resolve in it."""
    return Draft202012Validator({**schema, "components": SPEC["components"]})


def answer_schema(path: str, status: str) -> dict[str, Any]:
    return SPEC["paths"][path]["get"]["responses"][status]["content"]["application/json"]["schema"]


def api_routes() -> set[str]:
    routes = set()
    for resolver in get_resolver().url_patterns:
        for pattern in getattr(resolver, "url_patterns", [resolver]):
            if isinstance(pattern, URLPattern) and str(pattern.pattern).startswith("api/"):
                routes.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern)))
    return routes


def test_the_document_is_served(client: Client) -> None:
    assert client.get("/api/openapi.json").json() == SPEC


def test_every_api_route_is_described_and_nothing_else() -> None:
    assert set(SPEC["paths"]) == api_routes()


@pytest.mark.parametrize("name", list(SPEC["components"]["schemas"]))
def test_every_schema_is_valid_json_schema(name: str) -> None:
    Draft202012Validator.check_schema(SPEC["components"]["schemas"][name])


def test_every_listing_filter_is_documented_with_a_description() -> None:
    parameters = {p["name"]: p for p in SPEC["paths"]["/api/widgets/"]["get"]["parameters"]}

    assert {name: bool(parameters[name]["description"]) for name in ApiListingForm.base_fields} == {
        name: True for name in ApiListingForm.base_fields
    }


@pytest.mark.parametrize(
    ("path", "query"),
    [("/api/widgets/", ""), ("/api/widgets/", "page_size=1"), ("/api/categories/", "")],
)
def test_listings_match_their_schema(
    client: Client, make_widgets: MakeWidgets, path: str, query: str
) -> None:
    make_widgets(3)
    body = client.get(f"{path}?{query}").json()

    assert list(validator(answer_schema(path, "200")).iter_errors(body)) == []


def test_a_widget_matches_its_schema(client: Client, make_widgets: MakeWidgets) -> None:
    [widget] = make_widgets(1)
    body = client.get(f"/api/widgets/{widget.slug}/").json()

    assert list(validator(answer_schema("/api/widgets/{slug}/", "200")).iter_errors(body)) == []


@pytest.mark.parametrize(
    "parameter", SPEC["paths"]["/api/widgets/"]["get"]["parameters"], ids=lambda p: p["name"]
)
def test_every_documented_parameter_is_accepted_with_its_example(
    client: Client, shop: Shop, make_widgets: MakeWidgets, parameter: dict[str, Any]
) -> None:
    make_widgets(3, material="brass", colour="red", size="m")
    example = parameter["example"]
    values = example if isinstance(example, list) else [example]

    response = client.get("/api/widgets/", {parameter["name"]: values})

    assert (
        response.status_code,
        list(validator(answer_schema("/api/widgets/", "200")).iter_errors(response.json())),
    ) == (200, [])


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/widgets/?sort=sideways", "400"),
        ("/api/widgets/?page_size=%C2%B2", "400"),
        ("/api/widgets/?page=999", "404"),
        ("/api/widgets/no-such-widget/", "404"),
    ],
)
def test_errors_match_the_error_schema(
    client: Client, make_widgets: MakeWidgets, path: str, status: str
) -> None:
    make_widgets(1)
    response = client.get(path)
    documented = path.split("?")[0] if "?" in path else "/api/widgets/{slug}/"

    assert (
        str(response.status_code),
        list(validator(answer_schema(documented, status)).iter_errors(response.json())),
    ) == (status, [])
