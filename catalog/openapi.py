"""`/api/openapi.json`: the catalog API described in OpenAPI 3.1, built from the code it describes.

Query parameters come from the shared listing parser's own fields
(`catalog.forms.ApiListingForm`) and enums from the models' choices, so a
filter added to the shop appears here by itself (and must be given a
description: tests/catalog/test_openapi.py fails otherwise).
Response schemas forbid unknown properties, and the test validates live
answers against them: a field added to the JSON without its schema fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from catalog.forms import PAGE_SIZE_MAX, ApiListingForm
from catalog.models import Colour, Material, Size

VERSION = "1.0.0"

DESCRIPTIONS = {
    "q": 'Search terms: names and SKUs first, then descriptions; `"phrase"`, `-exclude`, `or`.',
    "category": "A category path (`gadgets/pocket-gadgets`): widgets in it and its sub-categories.",
    "min_price": "Lowest price, in the shop's currency (`12.50`).",
    "max_price": "Highest price, in the shop's currency.",
    "in_stock": "Only widgets in stock (`true`, `on` or `1`).",
    "colour": "One or more colours; repeat the parameter for several.",
    "size": "One or more sizes; repeat the parameter for several.",
    "material": "One or more materials; repeat the parameter for several.",
    "sort": "Order of the results.",
    "page": "Page number, from 1.",
    "page_size": f"Results per page, 1 to {PAGE_SIZE_MAX} (default {settings.CATALOG_PAGE_SIZE}).",
}
EXAMPLES: dict[str, Any] = {
    "q": "brass sprocket",
    "category": "sprockets",
    "min_price": "5.00",
    "max_price": "50.00",
    "in_stock": "true",
    "colour": ["red"],
    "size": ["m"],
    "material": ["brass"],
    "sort": "price",
    "page": 1,
    "page_size": 10,
}


def _values(field: forms.ChoiceField) -> list[str]:
    return [str(value) for value, _ in cast(Iterable[tuple[object, object]], field.choices)]


def _schema_for(field: forms.Field) -> dict[str, Any]:
    if isinstance(field, forms.MultipleChoiceField):
        return {"type": "array", "items": {"type": "string", "enum": _values(field)}}
    if isinstance(field, forms.BooleanField):
        return {"type": "boolean"}
    if isinstance(field, forms.DecimalField):
        return {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"}
    if isinstance(field, forms.IntegerField):
        schema: dict[str, Any] = {"type": "integer"}
        if field.min_value is not None:
            schema["minimum"] = field.min_value
        if field.max_value is not None:
            schema["maximum"] = field.max_value
        return schema
    if isinstance(field, forms.ChoiceField) and _values(field):
        return {"type": "string", "enum": _values(field)}
    return {"type": "string", "maxLength": getattr(field, "max_length", None) or 200}


def listing_parameters() -> list[dict[str, Any]]:
    """One query parameter per field of the API's listing form, the parser the view uses."""
    parameters = []
    for name, field in ApiListingForm.base_fields.items():
        schema = _schema_for(field)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": False,
            "description": DESCRIPTIONS.get(name, ""),
            "schema": schema,
            "example": EXAMPLES.get(name),
        }
        if schema["type"] == "array":
            parameter.update(style="form", explode=True)
        parameters.append(parameter)
    return parameters


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _answer(description: str, schema: str) -> dict[str, Any]:
    """A 200, with the headers the shared cache sets (catalog/caching/pages.py)."""
    return {
        **_json(description, schema),
        "headers": {
            "Cache-Control": {
                "description": "`public, max-age=…, stale-while-revalidate=…, "
                "stale-if-error=…` (RFC 5861): a CDN may answer from its copy while it "
                "revalidates, and while we fail.",
                "schema": {"type": "string"},
            },
            "Cache-Status": {
                "description": "How the answer was made (RFC 9211): `widgetworld; hit`, "
                "`widgetworld; fwd=miss; stored`, or `widgetworld; hit; "
                "detail=stale-database-unavailable` when it is the last good copy because the "
                "database cannot be reached (then without `ETag`).",
                "schema": {"type": "string"},
            },
            "Age": {
                "description": "Seconds since a stale answer was made from the database.",
                "schema": {"type": "integer", "minimum": 0},
            },
        },
    }


ERRORS = {
    "400": _json("Invalid filters or parameters, with the reason.", "Error"),
    "429": _json("Too many requests from this address: see `Retry-After`.", "Error"),
    "503": _json(
        "The shop is busy or its database unreachable, and this answer was never kept: "
        "see `Retry-After`.",
        "Error",
    ),
}
CACHED = {"304": {"description": "Not modified since the `If-None-Match` ETag."}}


def document() -> dict[str, Any]:
    money = {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$"}
    nullable_url = {"type": ["string", "null"], "format": "uri"}
    widget_properties: dict[str, Any] = {
        "sku": {"type": "string"},
        "slug": {"type": "string"},
        "name": {"type": "string"},
        "url": {"type": "string", "format": "uri"},
        "image": {"type": "string", "format": "uri"},
        "price": money,
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "stock": {"type": "integer", "minimum": 0},
        "in_stock": {"type": "boolean"},
        "colour": {"type": "string", "enum": Colour.values},
        "size": {"type": "string", "enum": Size.values},
        "material": {"type": "string", "enum": Material.values},
        "category": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "path": {"type": "string"}},
            "required": ["name", "path"],
            "additionalProperties": False,
        },
        "created_at": {"type": "string", "format": "date-time"},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "WidgetWorld catalog API",
            "version": VERSION,
            "description": "Read-only JSON for integrations. Answers carry `ETag` and "
            "`Cache-Control: public, max-age`; revalidate with `If-None-Match`. While the "
            "shop's database is down, answers come from the last good copy, marked by "
            "`Cache-Status` and `Age`.",
        },
        "paths": {
            "/api/widgets/": {
                "get": {
                    "operationId": "listWidgets",
                    "summary": "Widgets on sale, filtered, searched and sorted as on the pages.",
                    "parameters": listing_parameters(),
                    "responses": {
                        "200": _answer("A page of widgets.", "WidgetPage"),
                        "404": _json("A page past the last.", "Error"),
                        **CACHED,
                        **ERRORS,
                    },
                }
            },
            "/api/widgets/{slug}/": {
                "get": {
                    "operationId": "getWidget",
                    "summary": "One widget on sale, with its description.",
                    "parameters": [
                        {
                            "name": "slug",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _answer("The widget.", "WidgetDetail"),
                        "404": _json("No widget on sale has that slug.", "Error"),
                        **CACHED,
                        **ERRORS,
                    },
                }
            },
            "/api/categories/": {
                "get": {
                    "operationId": "listCategories",
                    "summary": "Every category, parents before children.",
                    "responses": {
                        "200": _answer("All categories.", "CategoryList"),
                        **CACHED,
                        **ERRORS,
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "getOpenAPI",
                    "summary": "This description.",
                    "responses": {"200": {"description": "OpenAPI 3.1 JSON."}},
                }
            },
        },
        "components": {
            "schemas": {
                "Widget": {
                    "type": "object",
                    "properties": widget_properties,
                    "required": list(widget_properties),
                    "additionalProperties": False,
                },
                "WidgetDetail": {
                    "type": "object",
                    "properties": {**widget_properties, "description": {"type": "string"}},
                    "required": [*widget_properties, "description"],
                    "additionalProperties": False,
                },
                "WidgetPage": {
                    "type": "object",
                    "properties": {
                        "count": {"type": "integer", "minimum": 0},
                        "next": nullable_url,
                        "previous": nullable_url,
                        "results": {"type": "array", "items": _ref("Widget")},
                    },
                    "required": ["count", "next", "previous", "results"],
                    "additionalProperties": False,
                },
                "Category": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "path": {"type": "string"},
                        "parent": {"type": ["string", "null"]},
                        "url": {"type": "string", "format": "uri"},
                        "widget_count": {"type": "integer", "minimum": 0},
                    },
                    "required": ["name", "path", "parent", "url", "widget_count"],
                    "additionalProperties": False,
                },
                "CategoryList": {
                    "type": "object",
                    "properties": {"results": {"type": "array", "items": _ref("Category")}},
                    "required": ["results"],
                    "additionalProperties": False,
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "errors": {"type": "object"},
                        "detail": {"type": "string"},
                        "retry_after": {"type": "integer"},
                    },
                    "required": ["error"],
                    "additionalProperties": False,
                },
            }
        },
    }


@require_safe
def openapi(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(document())
    response["Cache-Control"] = "public, max-age=3600"
    return response
