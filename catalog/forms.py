"""Every form the shop parses: the listings' query string, the cart's and checkout's posts.

Each turns untrusted input into plain values the selectors and services take
(`ListingForm.query()`, `CheckoutForm.customer()`), or into errors said for
the shopper: bad input is a 400 with the reason, never a 500 and never
silently ignored (a shopper who typed a price range wants to know it was not
applied).
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from functools import lru_cache
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.http import QueryDict
from django.utils.http import urlencode

from catalog.categories import CategoryTree
from catalog.models import Colour, Material, Order, Size
from catalog.selectors.listing import DEFAULT_SORT, SORTS, ListingQuery
from catalog.services.checkout import Customer

SEARCH_MAX_LENGTH = 200
PAGE_SIZE_MAX = 100
PAGE_MESSAGE = "The page number must be a whole number from 1."
PAGE_SIZE_MESSAGE = f"page_size must be a whole number from 1 to {PAGE_SIZE_MAX}."
CENT = Decimal("0.01")


class WholeNumberField(forms.IntegerField):
    """ASCII digits only, at most nine of them.

    IntegerField also takes "3.0", "+3", " 3" and other scripts' digits
    ("\u0663"); a page number in a URL is none of those.
    """

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,9}", value):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return int(value)


class ListingForm(forms.Form):
    """The query string of every listing page; unknown parameters are ignored, bad values are not.

    The one parser of listing parameters, for the pages and (with
    `ApiListingForm`) the API: `query()` is what `widget_listing()` takes.
    Whatever a stranger sends is input, answered with a 400 and its reason:
    digits other than ASCII 0-9 (`WholeNumberField`), NaN and Infinity
    (DecimalField), NUL characters (CharField), and a single-valued
    parameter repeated; bytes that are not UTF-8 arrive as U+FFFD.
    tests/catalog/test_sweep.py throws all of these at every route.
    """

    q = forms.CharField(
        label="Search",
        required=False,
        strip=True,
        max_length=SEARCH_MAX_LENGTH,
        error_messages={
            "max_length": f"Search terms are limited to {SEARCH_MAX_LENGTH} characters."
        },
    )
    category = forms.ChoiceField(label="Category", required=False)
    min_price = forms.DecimalField(
        label="Min price", required=False, min_value=0, max_digits=10, decimal_places=2
    )
    max_price = forms.DecimalField(
        label="Max price", required=False, min_value=0, max_digits=10, decimal_places=2
    )
    in_stock = forms.BooleanField(label="In stock only", required=False)
    colour = forms.MultipleChoiceField(
        label="Colour", required=False, choices=Colour.choices, widget=forms.CheckboxSelectMultiple
    )
    size = forms.MultipleChoiceField(
        label="Size", required=False, choices=Size.choices, widget=forms.CheckboxSelectMultiple
    )
    material = forms.MultipleChoiceField(
        label="Material",
        required=False,
        choices=Material.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[(key, label) for key, (label, _) in SORTS.items()],
    )
    page = WholeNumberField(
        required=False,
        min_value=1,
        error_messages={"invalid": PAGE_MESSAGE, "min_value": PAGE_MESSAGE},
    )

    # Said on their own when they are all that is wrong: they are not filters.
    PAGING_FIELDS: ClassVar[tuple[str, ...]] = ("page",)

    def __init__(self, data: QueryDict, *, tree: CategoryTree) -> None:
        super().__init__(data)
        category = self.fields["category"]
        assert isinstance(category, forms.ChoiceField)
        category.choices = [("", "All categories"), *tree.choices()]
        self.tree = tree

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        low, high = cleaned.get("min_price"), cleaned.get("max_price")
        if low is not None and high is not None and low > high:
            self.add_error("max_price", "The maximum price is below the minimum price.")
        # A single-valued parameter given twice is ambiguous: QueryDict would
        # quietly keep the last, and a cache key or a link might keep the first.
        for name, field in self.fields.items():
            if not isinstance(field, forms.MultipleChoiceField) and len(self._values(name)) > 1:
                self.add_error(name, f"{field.label or name} was given more than once.")
        return cleaned

    def _values(self, name: str) -> list[str]:
        getlist = getattr(self.data, "getlist", None)
        return list(getlist(name)) if getlist else []

    @property
    def terms(self) -> str:
        return str(self.cleaned_data.get("q") or "")

    def paging_error(self) -> str | None:
        """The message when only the page (or page size) is wrong, else None."""
        if not self.errors or not set(self.errors) <= set(self.PAGING_FIELDS):
            return None
        return str(next(iter(self.errors.values()))[0])

    def query(self) -> ListingQuery:
        """The validated parameters, for `widget_listing()`; call after `is_valid()`.

        Canonical: two query strings that mean the same listing ("colour=red&colour=blue"
        and "colour=blue&colour=red&colour=red", "min_price=5" and "min_price=5.00") give
        equal queries, so they share one cached page.
        """
        data = self.cleaned_data
        return ListingQuery(
            terms=self.terms,
            category=data.get("category") or "",
            min_price=_cents(data.get("min_price")),
            max_price=_cents(data.get("max_price")),
            in_stock=bool(data.get("in_stock")),
            colours=_choices(data.get("colour")),
            sizes=_choices(data.get("size")),
            materials=_choices(data.get("material")),
            sort=data.get("sort") or DEFAULT_SORT,
            page=data.get("page") or 1,
            page_size=data.get("page_size"),
        )


def _cents(amount: Decimal | None) -> Decimal | None:
    return None if amount is None else amount.quantize(CENT)


def _choices(values: list[str] | None) -> tuple[str, ...]:
    return tuple(sorted(set(values or ())))


def listing_params(query: ListingQuery) -> tuple[tuple[str, str], ...]:
    """The one query string of `query`: what a cached page is keyed by and links are built from.

    The inverse of `ListingForm.query()`: parameters in one order, defaults left out.
    """
    params: list[tuple[str, str]] = []
    if query.terms:
        params.append(("q", query.terms))
    if query.category:
        params.append(("category", query.category))
    for name, amount in (("min_price", query.min_price), ("max_price", query.max_price)):
        if amount is not None:
            params.append((name, str(amount)))
    if query.in_stock:
        params.append(("in_stock", "on"))
    for name, values in (
        ("colour", query.colours),
        ("size", query.sizes),
        ("material", query.materials),
    ):
        params.extend((name, value) for value in values)
    if query.sort != DEFAULT_SORT:
        params.append(("sort", query.sort))
    if query.page != 1:
        params.append(("page", str(query.page)))
    if query.page_size is not None:
        params.append(("page_size", str(query.page_size)))
    return tuple(params)


@lru_cache(maxsize=4096)
def valid_listing_query(
    form_class: type[ListingForm], tree: CategoryTree, query_string: str
) -> ListingQuery | None:
    """The listing a query string asks for, or None when it is invalid (bind the form for why).

    Binding a form costs a third of a cached page's time, so each process
    remembers the last few thousand query strings it parsed, per category
    tree (a new tree is a new key): a popular listing is parsed once.
    """
    form = form_class(QueryDict(query_string), tree=tree)
    return form.query() if form.is_valid() else None


def as_query_dict(params: tuple[tuple[str, str], ...]) -> QueryDict:
    """`params` as the `request.GET` a shopper following our own links would send."""
    return QueryDict(urlencode(params))


class ApiListingForm(ListingForm):
    """The API's listings also take `page_size` (1 to PAGE_SIZE_MAX); the pages ignore it."""

    page_size = WholeNumberField(
        required=False,
        min_value=1,
        max_value=PAGE_SIZE_MAX,
        error_messages={
            "invalid": PAGE_SIZE_MESSAGE,
            "min_value": PAGE_SIZE_MESSAGE,
            "max_value": PAGE_SIZE_MESSAGE,
        },
    )

    PAGING_FIELDS: ClassVar[tuple[str, ...]] = ("page", "page_size")


# Where we ship to; a short list rather than every ISO code, so the select stays usable.
COUNTRIES = [
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("NL", "Netherlands"),
    ("BE", "Belgium"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("US", "United States"),
    ("CA", "Canada"),
]


def _quantity(minimum: int) -> forms.IntegerField:
    return forms.IntegerField(
        label="Quantity",
        min_value=minimum,
        max_value=settings.CART_MAX_QUANTITY,
        error_messages={
            "invalid": "Enter a whole number.",
            "min_value": f"Enter a quantity of {minimum} or more.",
            "max_value": f"At most {settings.CART_MAX_QUANTITY} of one widget per order.",
            "required": "Enter a quantity.",
        },
    )


class AddToCartForm(forms.Form):
    widget = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    quantity = _quantity(1)


class UpdateCartForm(forms.Form):
    """A cart line's new quantity; 0 removes the line, as shoppers expect."""

    widget = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    quantity = _quantity(0)


class RemoveFromCartForm(forms.Form):
    widget = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class CheckoutForm(forms.ModelForm):
    """Contact and shipping details, plus what makes a submission idempotent.

    `idempotency_key` is minted when the form is shown and carried back by
    every submission of that form, so a double click or replay names the
    same order. `expected_total` is the total the shopper saw.
    """

    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)
    expected_total = forms.DecimalField(
        widget=forms.HiddenInput, max_digits=12, decimal_places=2, required=False
    )
    country = forms.ChoiceField(choices=COUNTRIES, initial="GB")
    phone = forms.CharField(
        label="Phone (optional, for the courier)",
        required=False,
        max_length=32,
        validators=[
            RegexValidator(r"^\+?[0-9 ()-]{6,}$", "Enter a phone number, such as +44 20 7946 0000.")
        ],
    )

    class Meta:
        model = Order
        fields = (
            "full_name",
            "email",
            "phone",
            "address_line1",
            "address_line2",
            "city",
            "postcode",
            "country",
        )
        widgets: ClassVar[dict[str, forms.Widget]] = {
            "full_name": forms.TextInput(attrs={"autocomplete": "name"}),
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "address_line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "address_line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "postcode": forms.TextInput(attrs={"autocomplete": "postal-code"}),
        }

    @classmethod
    def fresh(cls, expected_total: object) -> CheckoutForm:
        return cls(initial={"idempotency_key": uuid.uuid4(), "expected_total": expected_total})

    def customer(self) -> Customer:
        data = self.cleaned_data
        return Customer(
            full_name=data["full_name"],
            email=data["email"],
            phone=data["phone"],
            address_line1=data["address_line1"],
            address_line2=data["address_line2"],
            city=data["city"],
            postcode=data["postcode"].upper(),
            country=data["country"],
        )
