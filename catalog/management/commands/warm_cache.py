"""`manage.py warm_cache`: render the pages shoppers hit first, for a deploy's first surge.

Run after `migrate` (make run, compose's `migrate` service, the Kubernetes
migration Job): home, the first pages of the all-widgets listing, every
category's first page, and the most wanted product pages (see
`catalog.selectors.widgets.most_wanted`). Each goes through the same seam as
a shopper's request (catalog/caching/pages.py), so a page with a current copy
is left alone and a second run costs a few cache reads.

A cache that cannot be reached is not an error here: the shop serves
uncached until it is back. The command says so and exits 0, so a deploy
never fails for want of a warm cache.
"""

from __future__ import annotations

import math
import time
from argparse import ArgumentParser
from collections import Counter
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from catalog.caching.copies import Outcome
from catalog.caching.pages import Cacheable, warm
from catalog.categories import category_tree
from catalog.models import Widget
from catalog.selectors.listing import ListingQuery
from catalog.selectors.widgets import most_wanted
from catalog.views import home_page, listing_page, product_page


class Command(BaseCommand):
    help = "Render the pages shoppers hit first into the shared cache (run after migrate)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--listing-pages",
            type=int,
            default=3,
            help="first pages of the all-widgets listing to render (default 3)",
        )
        parser.add_argument(
            "--products", type=int, default=100, help="product pages to render (default 100)"
        )
        parser.add_argument(
            "--days",
            type=int,
            default=30,
            help="the products most ordered over this many days come first (default 30)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if min(options["listing_pages"], options["products"], options["days"]) < 0:
            raise CommandError("--listing-pages, --products and --days must be 0 or more")
        started = time.perf_counter()
        outcomes: Counter[Outcome] = Counter()
        for cacheable in self.pages(options["listing_pages"], options["products"], options["days"]):
            outcomes[warm(cacheable)] += 1
        elapsed = time.perf_counter() - started
        rendered = outcomes[Outcome.MISS] + outcomes[Outcome.WAITED]
        if outcomes[Outcome.UNCACHED] and not rendered and not outcomes[Outcome.HIT]:
            self.stderr.write(
                "The cache did not answer: nothing was kept (the shop serves uncached meanwhile)."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Warmed {sum(outcomes.values())} pages in {elapsed:.1f} s: {rendered} rendered, "
                f"{outcomes[Outcome.HIT]} already current."
            )
        )

    def pages(self, listing_pages: int, products: int, days: int) -> list[Cacheable]:
        tree = category_tree()
        pages = [home_page(reverse("catalog:home"))]
        on_sale = Widget.objects.filter(is_active=True).count()
        last = max(1, math.ceil(on_sale / settings.CATALOG_PAGE_SIZE))
        widgets_path = reverse("catalog:widgets")
        pages += [
            listing_page("listing", widgets_path, ListingQuery(page=n), tree, title="All widgets")
            for n in range(1, min(listing_pages, last) + 1)
        ]
        pages += [
            listing_page(
                "category",
                category.get_absolute_url(),
                ListingQuery(),
                tree,
                title=category.name,
                category=category,
            )
            for category in tree.all
        ]
        pages += [
            product_page(widget.get_absolute_url(), widget.slug)
            for widget in most_wanted(products, days=days)
        ]
        return pages
