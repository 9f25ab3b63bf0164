"""The read-only JSON API: `/api/widgets/`, `/api/widgets/<slug>/`, `/api/categories/`.

Plain Django views and JSON: three read-only endpoints do not need a
framework. Listings take the same query string as the pages (parsed by
catalog.forms.ApiListingForm, answered by the listing selector) plus
`page_size` (1 to 100) and answer `{count, next, previous, results}`, the
shape integrations already know from DRF. Errors are JSON too, with a status.

Answers go through the catalog's cache like the pages
(catalog/caching/pages.py), keyed with the origin they were asked on (they
hold absolute URLs), and are public: a CDN may keep them CATALOG_API_MAX_AGE
seconds, serve them stale while revalidating, and for CATALOG_CACHE_KEEP while
we fail (RFC 5861). Links are built from the canonical query string, so
every query string that means one listing gets the same answer.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

from django.core.paginator import Page as ResultsPage
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from catalog.caching.pages import Cacheable, Page, Rendered, render_json, serve
from catalog.categories import CategoryTree, category_tree
from catalog.forms import ApiListingForm, listing_params, valid_listing_query
from catalog.models import Category, Widget
from catalog.selectors.listing import ListingQuery, PageNotFound, widget_listing
from core.ratelimit.views import rate_limited


def _error(status: int, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message}
    if errors:
        body["errors"] = errors
    return body


def _origin(request: HttpRequest) -> str:
    """scheme://host as the client asked: the absolute URLs in an answer start with it."""
    return f"{request.scheme}://{request.get_host()}"


def widget_json(origin: str, widget: Widget, tree: CategoryTree) -> dict[str, Any]:
    category = tree.by_id[widget.category_id]
    return {
        "sku": widget.sku,
        "slug": widget.slug,
        "name": widget.name,
        "url": origin + widget.get_absolute_url(),
        "image": origin + widget.get_image_url(),
        # A string: JSON numbers are floats to most clients, and money is not.
        "price": str(widget.price),
        "currency": widget.currency,
        "stock": widget.stock,
        "in_stock": widget.in_stock,
        "colour": widget.colour,
        "size": widget.size,
        "material": widget.material,
        "category": {"name": category.name, "path": category.path},
        "created_at": widget.created_at.isoformat(),
    }


def _page_link(origin: str, path: str, query: ListingQuery, number: int | None) -> str | None:
    if number is None:
        return None
    params = listing_params(dataclasses.replace(query, page=number))
    return f"{origin}{path}?{urlencode(params)}" if params else f"{origin}{path}"


@require_safe
@rate_limited("api", methods=("GET", "HEAD"))
def widgets(request: HttpRequest) -> HttpResponseBase:
    tree = category_tree(request)
    query = valid_listing_query(ApiListingForm, tree, request.META.get("QUERY_STRING", ""))
    if query is None:
        form = ApiListingForm(request.GET, tree=tree)
        form.is_valid()
        message = form.paging_error() or "Invalid filters."
        return JsonResponse(_error(400, message, form.errors.get_json_data()), status=400)
    origin = _origin(request)
    page = Page("api_widgets", request.path_info, listing_params(query), origin)
    render = partial(_render_widgets, query, tree, origin, request.path)
    return serve(request, Cacheable(page, render, brief=query.free_form), per_shopper=False)


def _render_widgets(query: ListingQuery, tree: CategoryTree, origin: str, path: str) -> Rendered:
    try:
        listing = widget_listing(query, tree=tree)
    except PageNotFound as missing:
        return render_json(_error(404, str(missing)), status=404)
    page: ResultsPage = listing.page
    return render_json(
        {
            "count": listing.count,
            "next": _page_link(
                origin, path, query, page.next_page_number() if page.has_next() else None
            ),
            "previous": _page_link(
                origin, path, query, page.previous_page_number() if page.has_previous() else None
            ),
            "results": [widget_json(origin, widget, tree) for widget in page],
        }
    )


@require_safe
@rate_limited("api", methods=("GET", "HEAD"))
def widget(request: HttpRequest, slug: str) -> HttpResponseBase:
    origin = _origin(request)
    page = Page("api_widget", request.path_info, origin=origin)
    return serve(request, Cacheable(page, partial(_render_widget, slug, origin)), per_shopper=False)


def _render_widget(slug: str, origin: str) -> Rendered:
    found = Widget.objects.filter(slug=slug, is_active=True).first()
    if found is None:
        return render_json(_error(404, "No widget with that slug."), status=404)
    tree = category_tree()
    return render_json({**widget_json(origin, found, tree), "description": found.description})


@require_safe
@rate_limited("api", methods=("GET", "HEAD"))
def categories(request: HttpRequest) -> HttpResponseBase:
    origin = _origin(request)
    page = Page("api_categories", request.path_info, origin=origin)
    return serve(request, Cacheable(page, partial(_render_categories, origin)), per_shopper=False)


def _render_categories(origin: str) -> Rendered:
    rows = list(
        Category.objects.annotate(widget_count=Count("widgets", filter=Q(widgets__is_active=True)))
    )
    tree = CategoryTree(rows)
    return render_json(
        {
            "results": [
                {
                    "name": category.name,
                    "path": category.path,
                    "parent": tree.by_id[category.parent_id].path if category.parent_id else None,
                    "url": origin + category.get_absolute_url(),
                    # Active widgets filed directly here, not in sub-categories.
                    "widget_count": category.widget_count,
                }
                for category in rows
            ]
        }
    )
