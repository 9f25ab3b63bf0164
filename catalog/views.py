"""Storefront pages: thin views over the selectors, the cart and the checkout service.

The catalog's pages (home, listings, category pages, search, product pages
and their pictures) go through one seam, catalog/caching/pages.py: a view
parses its input, names the page and hands over a function that renders it
without the request (`_render_*`). A cached answer costs no query; a render's
query count is fixed whatever the page shows (tests pin each one). The cart
and checkout are never cached; while the database is down the cart works from
the last good copies and checkout answers a friendly 503.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from functools import partial
from typing import Any

from django.contrib import messages
from django.db import InterfaceError, OperationalError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from catalog.caching import products
from catalog.caching.degraded import serve_stale
from catalog.caching.pages import Cacheable, Page, Rendered, render_page, serve
from catalog.cart import Cart, CartContents, CartError
from catalog.categories import CategoryTree, category_tree
from catalog.forms import (
    AddToCartForm,
    CheckoutForm,
    ListingForm,
    RemoveFromCartForm,
    UpdateCartForm,
    as_query_dict,
    listing_params,
    valid_listing_query,
)
from catalog.models import Category, Order, Widget
from catalog.selectors.listing import ListingQuery, PageNotFound, widget_listing
from catalog.selectors.widgets import widget_for_cart
from catalog.services.checkout import (
    CheckoutError,
    KeyReusedError,
    PriceChangedError,
    place_order,
)
from core.db.backends.postgresql.errors import ConnectionUnavailable, DatabaseUnavailable
from core.http.headers import SVG_POLICY
from core.http.priority import urgent_for
from core.http.routing import reads_from_primary
from core.ratelimit.limiter import limit, session_id
from core.ratelimit.views import rate_limited, too_many_requests

FEATURED_WIDGETS = 8
RELATED_WIDGETS = 4
# Order numbers this browser placed, newest last: only they may see a confirmation.
ORDERS_SESSION_KEY = "orders"
ORDERS_REMEMBERED = 5
# Pictures are drawn from the SKU and attributes, which rarely change.
IMAGE_MAX_AGE = 86400


@require_safe
def home(request: HttpRequest) -> HttpResponseBase:
    return serve(request, home_page(request.path_info))


# The pages' builders: a Page (what keys it; `path` never holds the script
# prefix) and its renderer. The views and manage.py warm_cache share them, so
# a warmed page is the copy a shopper's request finds.


def home_page(path: str) -> Cacheable:
    return Cacheable(Page("home", path), _render_home)


def _render_home() -> Rendered:
    featured = Widget.objects.filter(is_active=True, stock__gt=0).order_by("-created_at", "-id")
    context = {"featured": list(featured[:FEATURED_WIDGETS]), "category_tree": category_tree()}
    return render_page("catalog/home.html", context)


@require_safe
def widget_list(request: HttpRequest) -> HttpResponseBase:
    return _listing(request, "listing", title="All widgets")


@require_safe
def category(request: HttpRequest, path: str) -> HttpResponseBase:
    current = category_tree(request).by_path.get(path)
    if current is None:
        raise Http404("No such category")
    return _listing(request, "category", title=current.name, category=current)


@require_safe
@rate_limited("search", methods=("GET", "HEAD"))
def search_page(request: HttpRequest) -> HttpResponseBase:
    return _listing(request, "search", title="Search", searching=True)


def _listing(
    request: HttpRequest,
    kind: str,
    *,
    title: str,
    category: Category | None = None,
    searching: bool = False,
) -> HttpResponseBase:
    """The one listing page: category, all widgets, or search results, with the same filters.

    Bad input is answered here, never cached: garbage cannot grow the cache.
    Everything valid is keyed by its canonical query string.
    """
    tree = category_tree(request)
    query = valid_listing_query(ListingForm, tree, request.META.get("QUERY_STRING", ""))
    if query is None:
        form = ListingForm(request.GET, tree=tree)
        form.is_valid()
        context = _listing_context(tree, form, title=title, category=category, searching=searching)
        context["error"] = (
            form.paging_error() or "Some filters could not be applied: please correct them."
        )
        return render(request, "catalog/listing.html", context, status=400)
    if not searching:
        # Only the search page searches: elsewhere `q` is dropped like any unknown parameter.
        query = dataclasses.replace(query, terms="")
    page = listing_page(
        kind, request.path_info, query, tree, title=title, category=category, searching=searching
    )
    return serve(request, page)


def listing_page(
    kind: str,
    path: str,
    query: ListingQuery,
    tree: CategoryTree,
    *,
    title: str,
    category: Category | None = None,
    searching: bool = False,
) -> Cacheable:
    """A listing named by its canonical query string (`path` without the script prefix)."""
    render = partial(
        _render_listing, query, tree, title=title, category=category, searching=searching
    )
    return Cacheable(Page(kind, path, listing_params(query)), render, brief=query.free_form)


def _listing_context(
    tree: CategoryTree,
    form: ListingForm,
    *,
    title: str,
    category: Category | None,
    searching: bool,
) -> dict[str, Any]:
    return {
        "title": title,
        "form": form,
        "category": category,
        "searching": searching,
        "breadcrumbs": tree.ancestors(category) if category else [],
        "subcategories": tree.children(category) if category else [],
        "category_tree": tree,
        "terms": form.terms if form.is_bound and not form.errors else "",
    }


def _render_listing(
    query: ListingQuery,
    tree: CategoryTree,
    *,
    title: str,
    category: Category | None,
    searching: bool,
) -> Rendered:
    params = as_query_dict(listing_params(query))
    # Bound to the canonical parameters: the page shows what it was keyed by.
    form = ListingForm(params, tree=tree)
    form.is_valid()
    context = _listing_context(tree, form, title=title, category=category, searching=searching)
    context["params"] = params
    if searching and not query.terms:
        return render_page("catalog/listing.html", context)
    if searching:
        context["title"] = f"Results for \u201c{query.terms}\u201d"
    try:
        listing = widget_listing(query, tree=tree, within=category)
    except PageNotFound as missing:
        context["error"] = str(missing)
        return render_page("catalog/listing.html", context, status=404)
    context["page"], context["fuzzy"] = listing.page, listing.fuzzy
    return render_page("catalog/listing.html", context)


@require_safe
def widget_detail(request: HttpRequest, slug: str) -> HttpResponseBase:
    return serve(request, product_page(request.path_info, slug))


def product_page(path: str, slug: str) -> Cacheable:
    return Cacheable(Page("product", path), partial(_render_product, slug))


def _render_product(slug: str) -> Rendered:
    widget = get_object_or_404(Widget, slug=slug, is_active=True)
    # The page shoppers add to the cart from: the cart may need this copy if the database goes.
    products.remember([widget])
    form = AddToCartForm(initial={"widget": widget.id, "quantity": 1})
    return render_page("catalog/widget_detail.html", _product_context(widget, form))


def _product_context(widget: Widget, form: AddToCartForm) -> dict[str, Any]:
    tree = category_tree()
    widget_category = tree.by_id[widget.category_id]
    related = (
        Widget.objects.filter(category_id=widget.category_id, is_active=True, stock__gt=0)
        .exclude(pk=widget.pk)
        .order_by("-created_at", "-id")[:RELATED_WIDGETS]
    )
    return {
        "widget": widget,
        "widget_category": widget_category,
        "breadcrumbs": [*tree.ancestors(widget_category), widget_category],
        "form": form,
        # Plain values for the add-to-cart fragment, which the cache keeps.
        "quantity": form["quantity"].value(),
        "quantity_errors": [str(error) for error in form.errors.get("quantity", [])],
        "related": list(related),
        "category_tree": tree,
    }


def _widget_page(
    request: HttpRequest, widget: Widget, form: AddToCartForm, status: int
) -> HttpResponse:
    """The product page again with the add-to-cart form's errors: for this shopper only."""
    return render(
        request, "catalog/widget_detail.html", _product_context(widget, form), status=status
    )


@require_safe
def widget_image(request: HttpRequest, slug: str) -> HttpResponseBase:
    """The widget's picture, drawn from its attributes: no binary assets to ship or store.

    Cached like the pages that show it, so those pages keep their pictures
    while the database is down; drawn only from the SKU and attributes,
    which rarely change, so browsers and a CDN may keep it a day.
    """
    image = Cacheable(Page("image", request.path_info), partial(_render_image, slug))
    return serve(request, image, per_shopper=False, max_age=IMAGE_MAX_AGE)


def _render_image(slug: str) -> Rendered:
    widget = get_object_or_404(Widget.objects.only("sku", "colour", "material", "name"), slug=slug)
    svg = render_to_string("catalog/widget.svg", {"widget": widget, "art": _art(widget)})
    # An SVG opened on its own is a document that could run script: never ours.
    return Rendered(200, "image/svg+xml", (svg,), (("Content-Security-Policy", SVG_POLICY),))


PAINT = {
    "black": "#2b2d31",
    "white": "#f3f4f6",
    "silver": "#b8bec6",
    "red": "#c8372d",
    "orange": "#e8772e",
    "yellow": "#e9c03a",
    "green": "#3f8f4f",
    "blue": "#2f6db5",
    "purple": "#7a4fb0",
}
FINISH = {
    "steel": "#6b7280",
    "brass": "#b08d3c",
    "copper": "#b4673d",
    "aluminium": "#a3adb8",
    "titanium": "#5d6470",
    "plastic": "#e5e7eb",
    "wood": "#8a5a34",
}


def _art(widget: Widget) -> dict[str, Any]:
    """Shape parameters derived from the SKU, so every widget looks like itself every time."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(widget.sku))
    teeth = 6 + seed % 9
    return {
        "fill": PAINT.get(widget.colour, "#888"),
        "rim": FINISH.get(widget.material, "#555"),
        "teeth": [i * 360 / teeth for i in range(teeth)],
        "hole": 14 + seed % 12,
        "rounded": seed % 3 == 0,
    }


# -- Cart ---------------------------------------------------------------------------
# The cart shows stock and checkout decides on it: both read from the primary
# when there are replicas (its POSTs do anyway), never a copy seconds old.


@reads_from_primary
@never_cache
@require_safe
def cart_page(request: HttpRequest) -> HttpResponse:
    contents = Cart(request.session).contents()
    if contents.stale is not None:
        serve_stale(request, contents.stale)
    _tell_dropped(request, contents)
    return render(request, "catalog/cart.html", {"contents": contents})


@require_POST
@rate_limited("cart")
def cart_add(request: HttpRequest) -> HttpResponse:
    form = AddToCartForm(request.POST)
    widget_id = str(form.data.get("widget", ""))
    # ASCII digits that fit a bigint: isdigit() also passes "\u00b2", which int() refuses.
    if not re.fullmatch(r"[0-9]{1,18}", widget_id):
        return _bad_request(request, "That widget could not be found.")
    widget, stale = widget_for_cart(int(widget_id))
    if widget is None:
        raise Http404("No such widget on sale")
    if stale is not None:
        serve_stale(request, stale)
    if not form.is_valid():
        return _widget_page(request, widget, form, status=400)
    try:
        Cart(request.session).add(widget, form.cleaned_data["quantity"])
    except CartError as error:
        form.add_error("quantity", str(error))
        return _widget_page(request, widget, form, status=409)
    messages.success(
        request, f"Added {form.cleaned_data['quantity']} \u00d7 {widget.name} to your cart."
    )
    return redirect("catalog:cart")


@require_POST
@rate_limited("cart")
def cart_update(request: HttpRequest) -> HttpResponse:
    cart = Cart(request.session)
    form = UpdateCartForm(request.POST)
    if not form.is_valid():
        return _cart_with_errors(request, cart, form)
    widget_id = form.cleaned_data["widget"]
    if form.cleaned_data["quantity"] == 0 or widget_id not in cart.items:
        cart.remove(widget_id)
        return redirect("catalog:cart")
    widget, stale = widget_for_cart(widget_id)
    if stale is not None:
        serve_stale(request, stale)
    if widget is None:
        cart.remove(widget_id)
        messages.warning(request, "That widget is no longer sold and was removed from your cart.")
        return redirect("catalog:cart")
    try:
        cart.set(widget, form.cleaned_data["quantity"])
    except CartError as error:
        form.add_error("quantity", str(error))
        return _cart_with_errors(request, cart, form, status=409)
    return redirect("catalog:cart")


@require_POST
def cart_remove(request: HttpRequest) -> HttpResponse:
    form = RemoveFromCartForm(request.POST)
    if not form.is_valid():
        return _bad_request(request, "That cart line could not be found.")
    Cart(request.session).remove(form.cleaned_data["widget"])
    return redirect("catalog:cart")


def _cart_with_errors(
    request: HttpRequest, cart: Cart, form: UpdateCartForm, status: int = 400
) -> HttpResponse:
    contents = cart.contents()
    if contents.stale is not None:
        serve_stale(request, contents.stale)
    errors = [message for messages_ in form.errors.values() for message in messages_]
    context = {"contents": contents, "errors": errors, "error_line": form.data.get("widget")}
    return render(request, "catalog/cart.html", context, status=status)


def _tell_dropped(request: HttpRequest, contents: CartContents) -> None:
    for name in contents.dropped:
        messages.warning(request, f"{name} is no longer sold and was removed from your cart.")


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "400.html", {"reason": message}, status=400)


# -- Checkout -----------------------------------------------------------------------

# What a checkout that could not reach the database (or lost it half way) may
# have met: the order was not placed, or placed and not confirmed. Either way
# the same form, sent again, is the same order (its idempotency key).
UNREACHABLE = (ConnectionUnavailable, OperationalError, InterfaceError)


@reads_from_primary
@never_cache
@require_http_methods(["GET", "POST"])
# A shopper paying goes ahead of browsing when connections are scarce.
@urgent_for("POST")
@rate_limited("checkout")
def checkout(request: HttpRequest) -> HttpResponse:
    cart = Cart(request.session)
    try:
        return _checkout(request, cart)
    except UNREACHABLE as error:
        retry_after = getattr(error, "retry_after", DatabaseUnavailable.retry_after)
        return _checkout_paused(request, cart, retry_after=retry_after)


def _checkout(request: HttpRequest, cart: Cart) -> HttpResponse:
    contents = cart.contents()
    if contents.stale is not None:
        return _checkout_paused(request, cart, contents, retry_after=contents.stale.retry_after)
    if request.method == "GET":
        _tell_dropped(request, contents)
        if not contents.lines:
            messages.info(request, "Your cart is empty: add a widget or two first.")
            return redirect("catalog:cart")
        _shopper(request)
        return _checkout_page(request, contents, CheckoutForm.fresh(contents.total))

    form = CheckoutForm(request.POST)
    if not form.is_valid():
        return _checkout_page(request, contents, form, status=400)
    if contents.dropped:
        # The cart is not what the shopper last saw: show it again before charging.
        _tell_dropped(request, contents)
        return _checkout_page(
            request,
            contents,
            CheckoutForm({**request.POST.dict(), "expected_total": str(contents.total)}),
            status=409,
            error="Your cart changed: please check the new total.",
        )
    units = limit("order-units")
    if not (verdict := units.check(request, cost=contents.count)).allowed:
        return too_many_requests(request, verdict)
    try:
        placement = place_order(
            key=form.cleaned_data["idempotency_key"],
            customer=form.customer(),
            lines={line.widget.id: line.quantity for line in contents.lines},
            expected_total=form.cleaned_data["expected_total"],
            placed_by=_shopper(request),
        )
    except CheckoutError as error:
        if not contents.lines:
            messages.info(request, str(error))
            return redirect("catalog:cart")
        # Same key: nothing was written, so the next submission is still the first.
        data = request.POST.copy()
        if isinstance(error, PriceChangedError):
            data["expected_total"] = str(error.total)
        if isinstance(error, KeyReusedError):
            # Someone else's key: a fresh one, so this browser's next submission is its own.
            data["idempotency_key"] = str(uuid.uuid4())
        return _checkout_page(
            request, cart.contents(), CheckoutForm(data), status=409, error=str(error)
        )
    if placement.created:
        units.charge(request, cost=contents.count)
        cart.clear()
    else:
        # A replay (double click, retry): take out what that order bought, and
        # leave anything added to the cart since.
        cart.remove_all(placement.order.lines.values_list("widget_id", flat=True))
    _remember_order(request, placement.order)
    return HttpResponseRedirect(
        reverse("catalog:order-confirmation", kwargs={"number": placement.order.number}),
        status=303,
    )


def _checkout_page(
    request: HttpRequest,
    contents: CartContents,
    form: CheckoutForm,
    *,
    status: int = 200,
    error: str | None = None,
) -> HttpResponse:
    context = {"contents": contents, "form": form, "error": error}
    return render(request, "catalog/checkout.html", context, status=status)


def _checkout_paused(
    request: HttpRequest,
    cart: Cart,
    contents: CartContents | None = None,
    *,
    retry_after: int,
) -> HttpResponse:
    """The friendly 503: no order placed, the cart and everything typed kept, try again soon.

    A POST keeps its form (and so its idempotency key): sending it again
    once the database is back places the order once, even if this attempt
    did place it and only the answer was lost.
    """
    if contents is None:
        try:
            contents = cart.contents()
        except UNREACHABLE:
            contents = CartContents([], unshown=len(cart))
    if contents.stale is not None:
        serve_stale(request, contents.stale)
    form = (
        CheckoutForm(request.POST)
        if request.method == "POST"
        else CheckoutForm.fresh(contents.total)
    )
    context = {"contents": contents, "form": form, "paused": True}
    response = render(request, "catalog/checkout.html", context, status=503)
    response["Retry-After"] = str(retry_after)
    return response


def _shopper(request: HttpRequest) -> str:
    """A digest of this browser's own secret, kept in its session: who placed an order.

    Minted when the checkout form is first shown, so a double click's two
    submissions carry the same one. Only the digest reaches the database.
    """
    return hashlib.sha256(session_id(request).encode()).hexdigest()


def _remember_order(request: HttpRequest, order: Order) -> None:
    numbers = [n for n in request.session.get(ORDERS_SESSION_KEY, []) if n != order.number]
    request.session[ORDERS_SESSION_KEY] = [*numbers, order.number][-ORDERS_REMEMBERED:]


@reads_from_primary
@never_cache
@require_safe
def order_confirmation(request: HttpRequest, number: str) -> HttpResponse:
    """Only the browser that placed the order sees it: the page shows an address."""
    if number not in request.session.get(ORDERS_SESSION_KEY, []):
        raise Http404("No such order in this browser")
    order = get_object_or_404(Order.objects.prefetch_related("lines"), number=number)
    return render(request, "catalog/order_confirmation.html", {"order": order})
