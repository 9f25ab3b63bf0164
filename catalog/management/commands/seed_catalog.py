"""`manage.py seed_catalog`: a demo catalog, the same one for the same seed.

Built on the factories the tests use (`catalog.factories`), but saved with
`bulk_create`: one INSERT per thousand rows instead of one per widget, which is
what makes 10,000 widgets a matter of seconds (see docs/benchmarks.md).
"""

from __future__ import annotations

import math
import time
from argparse import ArgumentParser
from dataclasses import dataclass
from typing import Any

import factory.random
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from catalog.caching.version import catalog_changed
from catalog.factories import CategoryFactory, WidgetFactory
from catalog.models import Category, Order, Widget

BATCH = 1000


@dataclass(frozen=True)
class Department:
    """A top-level category, the kinds of widget it sells and its usual sub-categories."""

    name: str
    kinds: tuple[str, ...]
    children: tuple[str, ...]


DEPARTMENTS = (
    Department(
        "Sprockets",
        ("Sprocket", "Ratchet"),
        ("Chain sprockets", "Idler sprockets", "Micro sprockets", "Bicycle sprockets"),
    ),
    Department(
        "Gizmos",
        ("Gizmo", "Doohickey"),
        ("Pocket gizmos", "Desk gizmos", "Garden gizmos", "Travel gizmos"),
    ),
    Department(
        "Gadgets",
        ("Gadget", "Thingamajig"),
        ("Kitchen gadgets", "Workshop gadgets", "Office gadgets", "Outdoor gadgets"),
    ),
    Department(
        "Cogs & gears",
        ("Cog", "Gear"),
        ("Spur gears", "Bevel gears", "Worm gears", "Planetary gears"),
    ),
    Department(
        "Fittings",
        ("Flange", "Bracket"),
        ("Pipe flanges", "Wall brackets", "Corner brackets", "Shelf brackets"),
    ),
    Department("Motion", ("Pulley", "Widget"), ("Pulleys", "Rollers", "Bearings", "Linkages")),
)


class Command(BaseCommand):
    help = "Fill the catalog with demo categories and widgets (deterministic for a --seed)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--widgets", type=int, default=2000, help="how many (default 2000)")
        parser.add_argument(
            "--categories", type=int, default=24, help="how many, in a two-level tree (default 24)"
        )
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the catalog already has widgets (what `make run` uses)",
        )
        mode.add_argument(
            "--flush",
            action="store_true",
            help="delete every widget and category first (orders keep their copies)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        widgets: int = options["widgets"]
        categories: int = options["categories"]
        if widgets < 0:
            raise CommandError("--widgets must be 0 or more")
        if categories < 1:
            raise CommandError("--categories must be at least 1")
        started = time.perf_counter()
        with transaction.atomic():
            if Widget.objects.exists() or Category.objects.exists():
                if options["if_empty"]:
                    self.stdout.write("The catalog already has data: nothing seeded.")
                    return
                if not options["flush"]:
                    raise CommandError(
                        "the catalog is not empty: add --if-empty to skip, or --flush to replace it"
                    )
                Widget.objects.all().delete()
                Category.objects.filter(parent__isnull=False).delete()
                Category.objects.all().delete()
            factory.random.reseed_random(options["seed"])
            WidgetFactory.reset_sequence(1)
            leaves = seed_categories(categories)
            seed_widgets(widgets, leaves)
            # Bulk inserts send no signal: cached pages must not show the old catalog.
            catalog_changed()
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {widgets:,} widgets in {categories} categories "
                f"(seed {options['seed']}) in {elapsed:.1f} s."
            )
        )
        if Order.objects.exists():
            self.stdout.write("Existing orders were kept.")


def seed_categories(count: int) -> list[tuple[Category, Department]]:
    """A two-level tree of `count` categories; returns the leaves widgets go into."""
    roots = DEPARTMENTS[: max(1, min(len(DEPARTMENTS), math.ceil(count / 4)))]
    parents = [
        CategoryFactory.build(name=d.name, slug=slugify(d.name), position=i)
        for i, d in enumerate(roots)
    ]
    for parent in parents:
        parent.path = parent.path_in_tree()
    Category.objects.bulk_create(parents)

    children: list[tuple[Category, Department]] = []
    for i in range(count - len(parents)):
        department_index = i % len(roots)
        department, parent = roots[department_index], parents[department_index]
        turn = i // len(roots)
        name = department.children[turn % len(department.children)]
        if turn >= len(department.children):
            name = f"{name} {turn // len(department.children) + 1}"
        child = CategoryFactory.build(name=name, slug=slugify(name), parent=parent, position=turn)
        child.path = child.path_in_tree()
        children.append((child, department))
    Category.objects.bulk_create([child for child, _ in children])

    childless = [
        (parent, department)
        for parent, department in zip(parents, roots, strict=True)
        if not any(child.parent is parent for child, _ in children)
    ]
    return children + childless


def seed_widgets(count: int, leaves: list[tuple[Category, Department]]) -> None:
    randgen = factory.random.randgen
    for start in range(0, count, BATCH):
        batch = []
        for _ in range(min(BATCH, count - start)):
            category, department = leaves[randgen.randrange(len(leaves))]
            widget = WidgetFactory.build(category=category, kind=randgen.choice(department.kinds))
            # One in fifty is withdrawn from sale, so the demo shows that too.
            widget.is_active = randgen.random() >= 0.02
            batch.append(widget)
        Widget.objects.bulk_create(batch)
