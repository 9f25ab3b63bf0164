"""The widget listing: filter, search, order and paginate, once, for every page and the API.

The category page, the all-widgets page, search and `/api/widgets/` all call
`widget_listing()` with a `ListingQuery` (parsed and validated by
`catalog.forms.ListingForm`), so a filter means the same thing everywhere.
The only error left once the parameters are valid is a page past the end:
`PageNotFound`, which the views answer with a 404.

Queries, whatever the page holds: a COUNT and one slice; a search adds one
`EXISTS` (and runs its typo fallback in a short transaction of its own). The
category tree comes from the caller, who read it once for the whole request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.core.paginator import Page, Paginator
from django.db import connections, router, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet

from catalog.categories import CategoryTree
from catalog.models import SEARCH_CONFIG, Category, Widget

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
DEFAULT_SORT = "relevance"


@dataclass(frozen=True)
class ListingQuery:
    """A listing's parameters, already valid: plain values, so equal queries compare equal.

    `category` is a category path from the `category` filter ("" for none);
    `page_size` None means CATALOG_PAGE_SIZE. Empty `terms` means no search.
    """

    terms: str = ""
    category: str = ""
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool = False
    colours: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    sort: str = DEFAULT_SORT
    page: int = 1
    page_size: int | None = None

    @property
    def free_form(self) -> bool:
        """Search terms or price bounds: values a shopper types, without end, unlike choices."""
        return bool(self.terms) or self.min_price is not None or self.max_price is not None


@dataclass(frozen=True)
class Listing:
    """One page of a listing, read from the database already."""

    page: Page
    # True when nothing matched the search's words and these are near spellings instead.
    fuzzy: bool = False

    @property
    def count(self) -> int:
        return int(self.page.paginator.count)


class PageNotFound(Exception):
    """The page asked for is past the last one (page 1 of nothing is an empty page, not this)."""

    def __init__(self, number: int, last: int) -> None:
        super().__init__(f"There is no page {number}: the last page is {last}.")
        self.number = number
        self.last = last


def widget_listing(
    query: ListingQuery, *, tree: CategoryTree, within: Category | None = None
) -> Listing:
    """Active widgets matching `query`, searched when it has terms, ordered, one page read now.

    `within` is the category whose page this is; a `category` filter in the
    query narrows to that category instead (the filter menu's choice wins).
    Raises PageNotFound past the last page.
    """
    widgets = _filtered(query, tree=tree, within=within)
    if not query.terms:
        return Listing(_page(_ordered(widgets, query.sort), query.page, query.page_size))
    results = _search(widgets, query.terms, query.sort)
    with results.scope():
        page = _page(results.widgets, query.page, query.page_size)
    return Listing(page, fuzzy=results.fuzzy)


def _filtered(
    query: ListingQuery, *, tree: CategoryTree, within: Category | None
) -> QuerySet[Widget]:
    """Active widgets matching the filters (not the search terms, not the order)."""
    widgets = Widget.objects.filter(is_active=True)
    scope = tree.by_path[query.category] if query.category else within
    if scope is not None:
        widgets = widgets.filter(category_id__in=tree.subtree_ids(scope))
    if query.min_price is not None:
        widgets = widgets.filter(price__gte=query.min_price)
    if query.max_price is not None:
        widgets = widgets.filter(price__lte=query.max_price)
    if query.in_stock:
        widgets = widgets.filter(stock__gt=0)
    for attribute, values in (
        ("colour", query.colours),
        ("size", query.sizes),
        ("material", query.materials),
    ):
        if values:
            widgets = widgets.filter(**{f"{attribute}__in": values})
    return widgets


def _ordered(widgets: QuerySet[Widget], sort: str) -> QuerySet[Widget]:
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
    it to the next request (and the pool need not reset the session). A
    read-only transaction on the server the listing reads from: a replica,
    when there are some (docs/data-layer.md, "Read replicas").
    """
    statements = "; ".join(f"SET LOCAL {name} = {value}" for name, value in FUZZY_SETTINGS.items())
    alias = router.db_for_read(Widget)
    # No savepoint when already in a transaction: these reads have nothing to undo.
    with transaction.atomic(using=alias, savepoint=False), connections[alias].cursor() as cursor:
        cursor.execute(statements)
        yield


@dataclass(frozen=True)
class _SearchResults:
    widgets: QuerySet[Widget]
    fuzzy: bool

    def scope(self) -> AbstractContextManager[None]:
        """Where the results must be read (paginated): fuzzy ones need FUZZY_SETTINGS."""
        return _fuzzy_settings() if self.fuzzy else nullcontext()


def _search(widgets: QuerySet[Widget], terms: str, sort: str) -> _SearchResults:
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
        matches = _ordered(matches, sort)
    if matches.exists():
        return _SearchResults(matches, fuzzy=False)
    near = widgets.filter(name__trigram_word_similar=terms)
    if sort == "relevance":
        near = near.annotate(similarity=TrigramWordSimilarity(terms, "name")).order_by(
            "-similarity", "id"
        )
    else:
        near = _ordered(near, sort)
    return _SearchResults(near, fuzzy=True)


def _page(widgets: QuerySet[Widget], number: int, per_page: int | None) -> Page:
    """One page, read now: a COUNT and one slice, whatever the page size."""
    paginator = Paginator(widgets, per_page or settings.CATALOG_PAGE_SIZE)
    if number > paginator.num_pages:
        raise PageNotFound(number, paginator.num_pages)
    page = paginator.page(number)
    page.object_list = list(page.object_list)
    return page
