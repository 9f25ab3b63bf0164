"""The category tree, read once per catalog version and walked in memory.

A shop has tens of categories, not thousands: one query for all of them is
cheaper than a query per breadcrumb, sub-category list or filter menu, and it
keeps every page's query count fixed. It is the catalog's to cache like a
page (catalog/caching): read once per catalog change across the fleet, and
kept in each process until the next one, so the menu, the filters and the
category pages' lookups cost no query on a cached request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from django.http import HttpRequest

from catalog.caching.copies import catalog_copies
from catalog.caching.version import catalog_version
from catalog.models import Category

_REQUEST_ATTRIBUTE = "_catalog_category_tree"
TREE_KEY = "catalog:category-tree"


class CategoryTree:
    """Every category, indexed by id and path, with its children in display order."""

    def __init__(self, categories: Iterable[Category]) -> None:
        self.all = list(categories)
        # Equal for two reads of unchanged categories (every save moves updated_at).
        self.fingerprint = tuple((category.id, category.updated_at) for category in self.all)
        self.by_id = {category.id: category for category in self.all}
        self.by_path = {category.path: category for category in self.all}
        self._children: dict[int | None, list[Category]] = defaultdict(list)
        for category in self.all:  # already in display order (Category.Meta.ordering)
            self._children[category.parent_id].append(category)

    @property
    def roots(self) -> list[Category]:
        return self._children[None]

    def children(self, category: Category) -> list[Category]:
        return self._children[category.id]

    def ancestors(self, category: Category) -> list[Category]:
        """From the root down to the category's parent: the breadcrumb."""
        chain: list[Category] = []
        parent_id = category.parent_id
        while parent_id is not None and parent_id in self.by_id:
            chain.insert(0, self.by_id[parent_id])
            parent_id = self.by_id[parent_id].parent_id
        return chain

    def subtree_ids(self, category: Category) -> list[int]:
        """The category and everything below it: a category page lists all of them."""
        ids, pending = [], [category]
        while pending:
            current = pending.pop()
            ids.append(current.id)
            pending.extend(self._children[current.id])
        return sorted(ids)

    def choices(self) -> list[tuple[str, str]]:
        """(path, indented name) in tree order, for a filter menu."""
        result: list[tuple[str, str]] = []

        def walk(nodes: list[Category], depth: int) -> None:
            for node in nodes:
                result.append((node.path, "\u2003" * depth + node.name))
                walk(self._children[node.id], depth + 1)

        walk(self.roots, 0)
        return result


class _Memo(NamedTuple):
    version: int | None  # None: a stale copy's, kept only to be reused while unchanged
    tree: CategoryTree


# This process's tree and the catalog version it is current at: a request
# that finds the version unchanged builds nothing and reads nothing.
_memo: _Memo | None = None


def category_tree(request: HttpRequest | None = None) -> CategoryTree:
    """The tree, the same for the whole of a request; no query while the catalog is unchanged.

    From this process's memory while the catalog version is unchanged, else
    from the shared cache (catalog/caching), else from the database; while
    the database is down, the last good copy.
    """
    tree: CategoryTree | None = getattr(request, _REQUEST_ATTRIBUTE, None)
    if tree is None:
        tree = _current_tree()
        if request is not None:
            setattr(request, _REQUEST_ATTRIBUTE, tree)
    return tree


def _current_tree() -> CategoryTree:
    global _memo
    memo, version = _memo, catalog_version().current()
    if memo is not None and version is not None and memo.version == version:
        return memo.tree
    fetched = catalog_copies("category_tree").fetch(
        TREE_KEY, lambda: list(Category.objects.all()), label="category_tree"
    )
    tree = CategoryTree(fetched.value)
    if memo is not None and memo.tree.fingerprint == tree.fingerprint:
        # Most catalog changes are widgets': the same tree object keeps what is
        # keyed by it (the parsed query strings, catalog/forms.py) and no copy is kept.
        tree = memo.tree
    _memo = _Memo(fetched.version if fetched.stale is None else None, tree)
    return tree
