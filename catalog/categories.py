"""The category tree, read once per request and walked in memory.

A shop has tens of categories, not thousands: one query for all of them is
cheaper than a query per breadcrumb, sub-category list or filter menu, and it
keeps every page's query count fixed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.http import HttpRequest

from catalog.models import Category

_REQUEST_ATTRIBUTE = "_catalog_category_tree"


class CategoryTree:
    """Every category, indexed by id and path, with its children in display order."""

    def __init__(self, categories: Iterable[Category]) -> None:
        self.all = list(categories)
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


def category_tree(request: HttpRequest) -> CategoryTree:
    """The tree for this request, read on first use."""
    tree = getattr(request, _REQUEST_ATTRIBUTE, None)
    if tree is None:
        tree = CategoryTree(Category.objects.all())
        setattr(request, _REQUEST_ATTRIBUTE, tree)
    return tree
