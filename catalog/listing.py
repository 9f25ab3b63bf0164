"""What every widget listing shares: filters, sorts and pagination, for pages and the API.

The category page, the all-widgets page, search and `/api/widgets/` all read
the same query string through `ListingForm`, so a filter means the same thing
everywhere. Invalid values are a 400 with the reason, never silently ignored
(a shopper who typed a price range wants to know it was not applied).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.core.paginator import Page, Paginator
from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet
from django.http import QueryDict

from catalog.categories import CategoryTree
from catalog.models import SEARCH_CONFIG, Colour, Material, Size, Widget

SEARCH_MAX_LENGTH = 200
PAGE_SIZE_MAX = 100

IN_STOCK_FIRST = ExpressionWrapper(Q(stock__gt=0), output_field=BooleanField())

# Every ordering ends in the primary key, so equal prices or names never
# shuffle between pages. Each matches an index in catalog/models.py.
SORTS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "relevance": ("Relevance", (IN_STOCK_FIRST.desc(), F("created_at").desc(), F("id").desc())),
    "price": ("Price: low to high", ("price", "id")),
    "-price": ("Price: high to low", ("-price", "-id")),
    "newest": ("Newest", ("-created_at", "-id")),
    "name": ("Name", ("name", "id")),
}


class PageError(Exception):
    """A `page` that is not a page number (400) or is past the last page (404)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ListingForm(forms.Form):
    """The query string of every listing; unknown parameters are ignored, bad values are not."""

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
        return cleaned

    @property
    def chosen_sort(self) -> str:
        return str(self.cleaned_data.get("sort") or "relevance")

    @property
    def terms(self) -> str:
        return str(self.cleaned_data.get("q") or "")


def filtered(form: ListingForm, *, category_ids: list[int] | None = None) -> QuerySet[Widget]:
    """Active widgets matching the form's filters (not the search terms, not the order)."""
    data = form.cleaned_data
    widgets = Widget.objects.filter(is_active=True)
    if data.get("category"):
        category_ids = form.tree.subtree_ids(form.tree.by_path[data["category"]])
    if category_ids is not None:
        widgets = widgets.filter(category_id__in=category_ids)
    if data.get("min_price") is not None:
        widgets = widgets.filter(price__gte=data["min_price"])
    if data.get("max_price") is not None:
        widgets = widgets.filter(price__lte=data["max_price"])
    if data.get("in_stock"):
        widgets = widgets.filter(stock__gt=0)
    for attribute in ("colour", "size", "material"):
        if data.get(attribute):
            widgets = widgets.filter(**{f"{attribute}__in": data[attribute]})
    return widgets


def ordered(widgets: QuerySet[Widget], sort: str) -> QuerySet[Widget]:
    return widgets.order_by(*SORTS[sort][1])


# pg_trgm's default word-similarity threshold (0.6) misses ordinary typos:
# "sprokcet" scores 0.56 against "sprocket", "widgit" 0.57 against "widget".
FUZZY_THRESHOLD = 0.4


# Set for the fallback's transaction only. PostgreSQL prices pg_trgm's `%>`
# like any cheap operator, so it would rather test every name from a btree scan
# (36 ms at 10,000 widgets) than ask the trigram GIN index (6 ms): plain index
# and sequential scans are ruled out, and the trigram bitmap scan remains.
FUZZY_SETTINGS = {
    "pg_trgm.word_similarity_threshold": str(FUZZY_THRESHOLD),
    "enable_seqscan": "off",
    "enable_indexscan": "off",
    "enable_indexonlyscan": "off",
}


@contextmanager
def _fuzzy_settings() -> Iterator[None]:
    """FUZZY_SETTINGS for one transaction, in one round trip.

    `SET LOCAL` ends with the transaction, so a pooled connection never carries
    it to the next request (and the pool need not reset the session).
    """
    statements = "; ".join(f"SET LOCAL {name} = {value}" for name, value in FUZZY_SETTINGS.items())
    # No savepoint when already in a transaction: these reads have nothing to undo.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(statements)
        yield


@dataclass(frozen=True)
class SearchResults:
    widgets: QuerySet[Widget]
    # True when nothing matched the words and these are near spellings instead.
    fuzzy: bool

    def scope(self) -> AbstractContextManager[None]:
        """Where the results must be read (paginated): fuzzy ones need FUZZY_SETTINGS."""
        return _fuzzy_settings() if self.fuzzy else nullcontext()


def search(widgets: QuerySet[Widget], terms: str, sort: str) -> SearchResults:
    """Ranked full-text search, falling back to trigram similarity of names for typos.

    `websearch` syntax lets shoppers write `"brass gear" -steel` or `cog or
    sprocket`; any text is safe, since PostgreSQL parses it as a query, never
    as SQL. The fallback costs one more count and runs only when the words
    matched nothing, so a correct spelling never gets near misses mixed in.
    """
    query = SearchQuery(terms, search_type="websearch", config=SEARCH_CONFIG)
    matches = widgets.filter(search_vector=query)
    if sort == "relevance":
        matches = matches.annotate(rank=SearchRank(F("search_vector"), query)).order_by(
            "-rank", "id"
        )
    else:
        matches = ordered(matches, sort)
    if matches.exists():
        return SearchResults(matches, fuzzy=False)
    near = widgets.filter(name__trigram_word_similar=terms)
    if sort == "relevance":
        near = near.annotate(similarity=TrigramWordSimilarity(terms, "name")).order_by(
            "-similarity", "id"
        )
    else:
        near = ordered(near, sort)
    return SearchResults(near, fuzzy=True)


def paginate(widgets: QuerySet[Widget], page: str | None, per_page: int | None = None) -> Page:
    """One page of a listing, read now: a COUNT and one slice, whatever the page size.

    Raises PageError: 400 for something that is not a page number, 404 past the
    end (page 1 of nothing is an empty page, not an error).
    """
    number = 1
    if page is not None and page != "":
        if not re.fullmatch(r"[0-9]{1,9}", page) or int(page) < 1:
            raise PageError("The page number must be a whole number from 1.", 400)
        number = int(page)
    paginator = Paginator(widgets, per_page or settings.CATALOG_PAGE_SIZE)
    if number > paginator.num_pages:
        raise PageError(f"There is no page {number}: the last page is {paginator.num_pages}.", 404)
    result = paginator.page(number)
    result.object_list = list(result.object_list)
    return result
