"""factory-boy factories: the tests' data and the demo catalog (`seed_catalog`) alike.

Every random choice goes through factory-boy's own generator (fuzzy
attributes, `randgen`, Faker), so `factory.random.reseed_random(seed)` makes a
whole catalog reproducible.
"""

from __future__ import annotations

import datetime as dt
import uuid

import factory
from django.utils import timezone
from django.utils.text import slugify
from factory.django import DjangoModelFactory
from factory.fuzzy import FuzzyChoice, FuzzyDecimal

from catalog.models import Category, Colour, Material, Order, OrderLine, Size, Widget

ADJECTIVES = (
    "Classic", "Compact", "Deluxe", "Heavy-duty", "Precision", "Quiet", "Rapid", "Rugged",
    "Slim", "Smart", "Sturdy", "Tiny", "Turbo", "Universal", "Vintage", "Whisper",
)  # fmt: skip
KINDS = (
    "Sprocket", "Gizmo", "Gadget", "Cog", "Gear", "Flange", "Widget", "Doohickey",
    "Thingamajig", "Ratchet", "Pulley", "Bracket",
)  # fmt: skip
MODELS = ("Mk I", "Mk II", "Mk III", "Pro", "Max", "Mini", "Plus", "X", "S", "Lite")


def _stock() -> int:
    """Mostly plenty, sometimes a few left, now and then sold out: what a real shop shows."""
    roll = factory.random.randgen.random()
    if roll < 0.08:
        return 0
    if roll < 0.2:
        return factory.random.randgen.randint(1, 5)
    return factory.random.randgen.randint(6, 250)


def _created_at() -> dt.datetime:
    """Somewhere in the last year, so that "newest" means something in the demo."""
    seconds = factory.random.randgen.randint(0, 365 * 24 * 3600)
    return timezone.now() - dt.timedelta(seconds=seconds)


class CategoryFactory(DjangoModelFactory[Category]):
    class Meta:
        model = Category
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))
    parent = None
    description = factory.Faker("sentence", nb_words=12)


class WidgetFactory(DjangoModelFactory[Widget]):
    class Meta:
        model = Widget
        skip_postgeneration_save = True

    class Params:
        adjective = FuzzyChoice(ADJECTIVES)
        kind = FuzzyChoice(KINDS)
        model_name = FuzzyChoice(MODELS)

    category = factory.SubFactory(CategoryFactory)
    colour = FuzzyChoice(Colour.values)
    size = FuzzyChoice(Size.values)
    material = FuzzyChoice(Material.values)
    sku = factory.Sequence(lambda n: f"WW-{n:06d}")
    name = factory.LazyAttribute(
        lambda o: f"{o.adjective} {Material(o.material).label} {o.kind} {o.model_name}"
    )
    slug = factory.LazyAttribute(lambda o: f"{slugify(o.name)}-{o.sku.lower()}")
    description = factory.Faker("paragraph", nb_sentences=4)
    price = FuzzyDecimal(1.5, 250)
    stock = factory.LazyFunction(_stock)
    is_active = True
    created_at = factory.LazyFunction(_created_at)


class OrderFactory(DjangoModelFactory[Order]):
    class Meta:
        model = Order
        skip_postgeneration_save = True

    number = factory.Sequence(lambda n: f"WW-TEST-{n:05d}")
    idempotency_key = factory.LazyFunction(uuid.uuid4)
    full_name = factory.Faker("name")
    email = factory.Faker("email")
    address_line1 = factory.Faker("street_address")
    city = factory.Faker("city")
    postcode = factory.Faker("postcode")
    country = "GB"
    currency = "GBP"


class OrderLineFactory(DjangoModelFactory[OrderLine]):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    widget = factory.SubFactory(WidgetFactory)
    sku = factory.LazyAttribute(lambda o: o.widget.sku)
    name = factory.LazyAttribute(lambda o: o.widget.name)
    unit_price = factory.LazyAttribute(lambda o: o.widget.price)
    quantity = 1
    line_total = factory.LazyAttribute(lambda o: o.unit_price * o.quantity)
