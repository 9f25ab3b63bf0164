"""Storefront pages: thin views over the listing selector, the cart and the checkout service.

Every page's query count is fixed whatever it shows (tests pin each one):
the catalog version, the category tree, then one query per list on the page.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from catalog.cart import Cart, CartContents, CartError
from catalog.categories import category_tree
from catalog.forms import (
    AddToCartForm,
    CheckoutForm,
    ListingForm,
    RemoveFromCartForm,
    UpdateCartForm,
)
from catalog.http import revalidated
from catalog.models import Category, Order, Widget
from catalog.selectors.listing import PageNotFound, widget_listing
from catalog.services.checkout import (
    CheckoutError,
    KeyReusedError,
    PriceChangedError,
    place_order,
)
from core.http.headers import SVG_POLICY
from core.http.priority import urgent_for
from core.ratelimit.limiter import limit, session_id
from core.ratelimit.views import rate_limited, too_many_requests

FEATURED_WIDGETS = 8
RELATED_WIDGETS = 4
# Order numbers this browser placed, newest last: only they may see a confirmation.
ORDERS_SESSION_KEY = "orders"
ORDERS_REMEMBERED = 5


@require_safe
@revalidated(per_shopper=True)
def home(request: HttpRequest) -> HttpResponse:
    featured = Widget.objects.filter(is_active=True, stock__gt=0).order_by("-created_at", "-id")[
        :FEATURED_WIDGETS
    ]
    return render(request, "catalog/home.html", {"featured": featured})


@require_safe
@revalidated(per_shopper=True)
def widget_list(request: HttpRequest) -> HttpResponse:
    return _listing(request, title="All widgets")


@require_safe
@revalidated(per_shopper=True)
def category(request: HttpRequest, path: str) -> HttpResponse:
    tree = category_tree(request)
    current = tree.by_path.get(path)
    if current is None:
        raise Http404("No such category")
    return _listing(request, title=current.name, category=current)


@require_safe
@rate_limited("search", methods=("GET", "HEAD"))
@revalidated(per_shopper=True)
def search_page(request: HttpRequest) -> HttpResponse:
    return _listing(request, title="Search", searching=True)


def _listing(
    request: HttpRequest,
    *,
    title: str,
    category: Category | None = None,
    searching: bool = False,
) -> HttpResponse:
    """The one listing page: category, all widgets, or search results, with the same filters."""
    tree = category_tree(request)
    form = ListingForm(request.GET, tree=tree)
    context: dict[str, Any] = {
        "title": title,
        "form": form,
        "category": category,
        "searching": searching,
        "breadcrumbs": tree.ancestors(category) if category else [],
        "subcategories": tree.children(category) if category else [],
    }
    if not form.is_valid():
        context["error"] = (
            form.paging_error() or "Some filters could not be applied: please correct them."
        )
        return render(request, "catalog/listing.html", context, status=400)

    query = form.query()
    context["terms"] = query.terms
    if searching:
        if not query.terms:
            return render(request, "catalog/listing.html", context)
        context["title"] = f"Results for \u201c{query.terms}\u201d"
    else:
        # Only the search page searches; elsewhere `q` is kept for the links only.
        query = dataclasses.replace(query, terms="")
    try:
        listing = widget_listing(query, tree=tree, within=category)
    except PageNotFound as missing:
        context["error"] = str(missing)
        return render(request, "catalog/listing.html", context, status=404)
    context["page"], context["fuzzy"] = listing.page, listing.fuzzy
    return render(request, "catalog/listing.html", context)


@require_safe
@revalidated(per_shopper=True)
def widget_detail(request: HttpRequest, slug: str) -> HttpResponse:
    widget = get_object_or_404(Widget, slug=slug, is_active=True)
    return _widget_page(
        request, widget, AddToCartForm(initial={"widget": widget.id, "quantity": 1})
    )


def _widget_page(
    request: HttpRequest, widget: Widget, form: AddToCartForm, status: int = 200
) -> HttpResponse:
    tree = category_tree(request)
    widget_category = tree.by_id[widget.category_id]
    related = (
        Widget.objects.filter(category_id=widget.category_id, is_active=True, stock__gt=0)
        .exclude(pk=widget.pk)
        .order_by("-created_at", "-id")[:RELATED_WIDGETS]
    )
    context = {
        "widget": widget,
        "widget_category": widget_category,
        "breadcrumbs": [*tree.ancestors(widget_category), widget_category],
        "form": form,
        "related": related,
        "in_cart": Cart(request.session).quantity_of(widget.id),
    }
    return render(request, "catalog/widget_detail.html", context, status=status)


@require_safe
def widget_image(request: HttpRequest, slug: str) -> HttpResponse:
    """The widget's picture, drawn from its attributes: no binary assets to ship or store."""
    widget = get_object_or_404(Widget.objects.only("sku", "colour", "material", "name"), slug=slug)
    svg = render_to_string("catalog/widget.svg", {"widget": widget, "art": _art(widget)})
    response = HttpResponse(svg, content_type="image/svg+xml")
    # Drawn only from the SKU and attributes, which rarely change: a day is safe.
    response["Cache-Control"] = "public, max-age=86400"
    # An SVG opened on its own is a document that could run script: never ours.
    response["Content-Security-Policy"] = SVG_POLICY
    return response


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


@never_cache
@require_safe
def cart_page(request: HttpRequest) -> HttpResponse:
    cart = Cart(request.session)
    contents = cart.contents()
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
    widget = get_object_or_404(Widget, pk=int(widget_id), is_active=True)
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
    widget = Widget.objects.filter(pk=widget_id, is_active=True).first()
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
    errors = [message for messages_ in form.errors.values() for message in messages_]
    context = {"contents": contents, "errors": errors, "error_line": form.data.get("widget")}
    return render(request, "catalog/cart.html", context, status=status)


def _tell_dropped(request: HttpRequest, contents: CartContents) -> None:
    for name in contents.dropped:
        messages.warning(request, f"{name} is no longer sold and was removed from your cart.")


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "400.html", {"reason": message}, status=400)


# -- Checkout -----------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
# A shopper paying goes ahead of browsing when connections are scarce.
@urgent_for("POST")
@rate_limited("checkout")
def checkout(request: HttpRequest) -> HttpResponse:
    cart = Cart(request.session)
    contents = cart.contents()
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


def _shopper(request: HttpRequest) -> str:
    """A digest of this browser's own secret, kept in its session: who placed an order.

    Minted when the checkout form is first shown, so a double click's two
    submissions carry the same one. Only the digest reaches the database.
    """
    return hashlib.sha256(session_id(request).encode()).hexdigest()


def _remember_order(request: HttpRequest, order: Order) -> None:
    numbers = [n for n in request.session.get(ORDERS_SESSION_KEY, []) if n != order.number]
    request.session[ORDERS_SESSION_KEY] = [*numbers, order.number][-ORDERS_REMEMBERED:]


@never_cache
@require_safe
def order_confirmation(request: HttpRequest, number: str) -> HttpResponse:
    """Only the browser that placed the order sees it: the page shows an address."""
    if number not in request.session.get(ORDERS_SESSION_KEY, []):
        raise Http404("No such order in this browser")
    order = get_object_or_404(Order.objects.prefetch_related("lines"), number=number)
    return render(request, "catalog/order_confirmation.html", {"order": order})
