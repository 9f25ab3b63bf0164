"""`manage.py seed_catalog`: the demo catalog, reproducible for a seed, in bulk."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from pytest_django import DjangoAssertNumQueries

from catalog.models import Category, Widget


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_catalog", *args, stdout=out)
    return out.getvalue()


def snapshot() -> list[tuple[object, ...]]:
    return list(
        Widget.objects.order_by("sku").values_list(
            "sku", "name", "price", "stock", "colour", "size", "material", "category__path"
        )
    )


def test_the_same_seed_makes_the_same_catalog(db: None) -> None:
    seed("--widgets", "40", "--categories", "9", "--seed", "7")
    first = snapshot()

    seed("--widgets", "40", "--categories", "9", "--seed", "7", "--flush")

    assert snapshot() == first


def test_another_seed_makes_another_catalog(db: None) -> None:
    seed("--widgets", "40", "--seed", "7")
    first = snapshot()

    seed("--widgets", "40", "--seed", "8", "--flush")

    assert snapshot() != first


def test_categories_form_a_two_level_tree(db: None) -> None:
    seed("--widgets", "10", "--categories", "9")

    depths = sorted(path.count("/") for path in Category.objects.values_list("path", flat=True))

    assert (len(depths), depths[0], depths[-1]) == (9, 0, 1)


def test_widgets_are_inserted_in_bulk(
    db: None, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    # checks, 2 category inserts, 3 widget batches, the orders check
    with django_assert_max_num_queries(12):
        seed("--widgets", "2500", "--categories", "6")

    assert Widget.objects.count() == 2500


def test_if_empty_leaves_an_existing_catalog_alone(db: None) -> None:
    seed("--widgets", "5")

    output = seed("--widgets", "50", "--if-empty")

    assert (Widget.objects.count(), "nothing seeded" in output) == (5, True)


def test_a_non_empty_catalog_is_not_seeded_twice_by_accident(db: None) -> None:
    seed("--widgets", "5")

    with pytest.raises(CommandError, match="--if-empty to skip, or --flush"):
        seed("--widgets", "5")


@pytest.mark.parametrize(("option", "value"), [("--widgets", "-1"), ("--categories", "0")])
def test_nonsense_sizes_are_refused(db: None, option: str, value: str) -> None:
    with pytest.raises(CommandError):
        seed(option, value)
