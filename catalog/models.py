"""What WidgetWorld sells and what shoppers ordered.

Pages only ever show active widgets, so the listing indexes are partial on
`is_active`: smaller, and each matches one sort the pages offer, always ending
in `id` so that pagination is stable when prices or dates tie.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import ExpressionWrapper, F, Q, Value
from django.db.models.functions import Concat, Substr
from django.urls import reverse
from django.utils import timezone

ACTIVE = Q(is_active=True)
# Full-text configuration for names and descriptions ("sprockets" finds
# "sprocket"); SKUs are indexed with `simple`, unstemmed, so "ww-000123" matches.
SEARCH_CONFIG = "english"


def shop_currency() -> str:
    """A callable default, so that the CURRENCY setting never leaks into a migration."""
    return str(settings.CURRENCY)


class Colour(models.TextChoices):
    BLACK = "black", "Black"
    WHITE = "white", "White"
    SILVER = "silver", "Silver"
    RED = "red", "Red"
    ORANGE = "orange", "Orange"
    YELLOW = "yellow", "Yellow"
    GREEN = "green", "Green"
    BLUE = "blue", "Blue"
    PURPLE = "purple", "Purple"


class Size(models.TextChoices):
    XS = "xs", "Extra small"
    S = "s", "Small"
    M = "m", "Medium"
    L = "l", "Large"
    XL = "xl", "Extra large"


class Material(models.TextChoices):
    STEEL = "steel", "Steel"
    BRASS = "brass", "Brass"
    COPPER = "copper", "Copper"
    ALUMINIUM = "aluminium", "Aluminium"
    TITANIUM = "titanium", "Titanium"
    PLASTIC = "plastic", "Plastic"
    WOOD = "wood", "Wood"


class Category(models.Model):
    """A node of the category tree; `path` ("gadgets/pocket-gadgets") is its URL.

    The path is stored rather than walked at request time so that a category
    page is found with one indexed lookup, and stays readable and stable.
    """

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=255, unique=True, editable=False)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Order among its siblings: lower comes first."
    )
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ("position", "name", "id")
        constraints = (
            models.UniqueConstraint(
                fields=["parent", "slug"],
                name="category_slug_unique_among_siblings",
                nulls_distinct=False,
            ),
        )

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Stores the path, and rewrites every descendant's when it changes.

        A new slug or parent moves the whole subtree: the descendants' stored
        paths (their URLs) must move with it, in the same transaction.
        """
        path = self.path_in_tree()
        with transaction.atomic():
            previous = (
                Category.objects.filter(pk=self.pk).values_list("path", flat=True).first()
                if self.pk is not None
                else None
            )
            self.path = path
            super().save(*args, **kwargs)
            if previous is not None and previous != path:
                Category.objects.filter(path__startswith=f"{previous}/").update(
                    path=Concat(Value(path), Substr("path", len(previous) + 1)),
                    updated_at=timezone.now(),
                )

    def get_absolute_url(self) -> str:
        return reverse("catalog:category", kwargs={"path": self.path})

    def path_in_tree(self) -> str:
        """The path this category's slug and parent give it (`path` is what is stored)."""
        return f"{self.parent.path}/{self.slug}" if self.parent else self.slug


class Widget(models.Model):
    """Something a shopper can buy; `stock` never goes below zero (a database CHECK)."""

    name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=160, unique=True)
    sku = models.CharField("SKU", max_length=32, unique=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="widgets")
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    currency = models.CharField(max_length=3, default=shop_currency, editable=False)
    stock = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(
        "on sale", default=True, help_text="Inactive widgets vanish from the shop and carts."
    )
    colour = models.CharField(max_length=16, choices=Colour.choices)
    size = models.CharField(max_length=4, choices=Size.choices)
    material = models.CharField(max_length=16, choices=Material.choices)
    # A default rather than auto_now_add so that demo data can spread its dates.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Maintained by PostgreSQL itself, so bulk inserts and admin edits can
    # never leave it stale.
    search_vector = models.GeneratedField(
        expression=SearchVector("name", weight="A", config=SEARCH_CONFIG)
        + SearchVector("sku", weight="A", config="simple")
        + SearchVector("description", weight="C", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ("name", "id")
        constraints = (
            models.CheckConstraint(condition=Q(stock__gte=0), name="widget_stock_not_negative"),
            models.CheckConstraint(condition=Q(price__gt=0), name="widget_price_positive"),
        )
        indexes = (
            # One per sort the listings offer (see catalog/selectors/listing.py).
            models.Index(
                ExpressionWrapper(Q(stock__gt=0), output_field=models.BooleanField()).desc(),
                F("created_at").desc(),
                F("id").desc(),
                name="widget_relevance_idx",
                condition=ACTIVE,
            ),
            models.Index(fields=["price", "id"], name="widget_price_idx", condition=ACTIVE),
            models.Index(fields=["-created_at", "-id"], name="widget_newest_idx", condition=ACTIVE),
            models.Index(fields=["name", "id"], name="widget_name_idx", condition=ACTIVE),
            # Filters.
            models.Index(fields=["colour"], name="widget_colour_idx", condition=ACTIVE),
            models.Index(fields=["size"], name="widget_size_idx", condition=ACTIVE),
            models.Index(fields=["material"], name="widget_material_idx", condition=ACTIVE),
            models.Index(fields=["stock"], name="widget_stock_idx", condition=ACTIVE),
            # The catalog version behind every ETag is max(updated_at).
            models.Index(fields=["updated_at"], name="widget_updated_idx"),
            # Search: ranked full text, then trigram similarity for typos.
            GinIndex(fields=["search_vector"], name="widget_search_idx"),
            GinIndex(fields=["name"], name="widget_name_trgm_idx", opclasses=["gin_trgm_ops"]),
        )

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:widget", kwargs={"slug": self.slug})

    def get_image_url(self) -> str:
        return reverse("catalog:widget-image", kwargs={"slug": self.slug})

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    @property
    def low_stock(self) -> bool:
        """Few enough left that telling the shopper may save a disappointed checkout."""
        return 0 < self.stock <= settings.CATALOG_LOW_STOCK


class Order(models.Model):
    """One checkout; lines keep a copy of what was bought, at the price paid.

    `idempotency_key` comes from the checkout form: a double click or a replay
    of the same form hits its unique constraint and gets the first order back,
    but only in the browser that placed it (`placed_by`). Status changes go
    through catalog/services/orders.py, which returns stock on cancellation.
    """

    class Status(models.TextChoices):
        # Holding stock until a payment step confirms it, or until `hold_expires_at`.
        PENDING = "pending", "Awaiting payment"
        PLACED = "placed", "Placed"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(max_length=16, unique=True, editable=False)
    idempotency_key = models.UUIDField(unique=True, editable=False)
    # A digest of the placing browser's secret (never the secret itself).
    placed_by = models.CharField(max_length=64, blank=True, editable=False)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PLACED, db_index=True
    )
    hold_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="An order still awaiting payment then is cancelled and its stock released.",
    )
    full_name = models.CharField(max_length=150)
    email = models.EmailField(db_index=True)
    phone = models.CharField(max_length=32, blank=True)
    address_line1 = models.CharField("address", max_length=200)
    address_line2 = models.CharField("address (line 2)", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    postcode = models.CharField(max_length=16)
    country = models.CharField(max_length=2)
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    shipping = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (
            models.Index(
                fields=["hold_expires_at"],
                name="order_hold_expiry_idx",
                condition=Q(status="pending"),
            ),
        )

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    """A widget as it was sold: name, SKU and price are copied, so history survives edits."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    widget = models.ForeignKey(
        Widget, null=True, on_delete=models.SET_NULL, related_name="order_lines"
    )
    sku = models.CharField("SKU", max_length=32)
    name = models.CharField(max_length=150)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    quantity = models.PositiveIntegerField()
    line_total = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ("id",)
        constraints = (
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_positive"),
        )

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"
