"""The read-only JSON API: `/api/widgets/`, `/api/widgets/<slug>/`, `/api/categories/`.

Plain Django views and JsonResponse: three read-only endpoints do not need a
framework. Listings take the same query string as the pages (parsed by
catalog.forms.ApiListingForm, answered by the listing selector) plus
`page_size` (1 to 100) and answer `{count, next, previous, results}`, the
shape integrations already know from DRF. Errors are JSON too, with a status.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.db.models import Count, Q
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from catalog.categories import CategoryTree, category_tree
from catalog.forms import ApiListingForm
from catalog.http import revalidated
from catalog.models import Category, Widget
from catalog.selectors.listing import PageNotFound, widget_listing
from core.ratelimit.views import rate_limited


def _error(status: int, message: str, errors: dict[str, Any] | None = None) -> JsonResponse:
    body: dict[str, Any] = {"error": message}
    if errors:
        body["errors"] = errors
    return JsonResponse(body, status=status)


def widget_json(request: HttpRequest, widget: Widget, tree: CategoryTree) -> dict[str, Any]:
    category = tree.by_id[widget.category_id]
    return {
        "sku": widget.sku,
        "slug": widget.slug,
        "name": widget.name,
        "url": request.build_absolute_uri(widget.get_absolute_url()),
        "image": request.build_absolute_uri(widget.get_image_url()),
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


def _page_link(request: HttpRequest, page: Page, number: int | None) -> str | None:
    if number is None:
        return None
    query = request.GET.copy()
    query["page"] = str(number)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


@require_safe
@rate_limited("api", methods=("GET", "HEAD"))
@revalidated(per_shopper=False)
def widgets(request: HttpRequest) -> JsonResponse:
    tree = category_tree(request)
    form = ApiListingForm(request.GET, tree=tree)
    if not form.is_valid():
        message = form.paging_error() or "Invalid filters."
        return _error(400, message, form.errors.get_json_data())
    try:
        listing = widget_listing(form.query(), tree=tree)
    except PageNotFound as missing:
        return _error(404, str(missing))
    page = listing.page
    return JsonResponse(
        {
            "count": listing.count,
            "next": _page_link(request, page, page.next_page_number() if page.has_next() else None),
            "previous": _page_link(
                request, page, page.previous_page_number() if page.has_previous() else None
            ),
            "results": [widget_json(request, widget, tree) for widget in page],
        }
    )


@require_safe
@rate_limited("api", methods=("GET", "HEAD"))
@revalidated(per_shopper=False)
def widget(request: HttpRequest, slug: str) -> JsonResponse:
    found = Widget.objects.filter(slug=slug, is_active=True).first()
    if found is None:
        return _error(404, "No widget with that slug.")
    tree = category_tree(request)
    return JsonResponse({**widget_json(request, found, tree), "description": found.description})


@require_safe
@rate_limited("api", methods=("GET", "HEAD"))
@revalidated(per_shopper=False)
def categories(request: HttpRequest) -> JsonResponse:
    rows = list(
        Category.objects.annotate(widget_count=Count("widgets", filter=Q(widgets__is_active=True)))
    )
    tree = CategoryTree(rows)
    return JsonResponse(
        {
            "results": [
                {
                    "name": category.name,
                    "path": category.path,
                    "parent": tree.by_id[category.parent_id].path if category.parent_id else None,
                    "url": request.build_absolute_uri(category.get_absolute_url()),
                    # Active widgets filed directly here, not in sub-categories.
                    "widget_count": category.widget_count,
                }
                for category in rows
            ]
        }
    )
