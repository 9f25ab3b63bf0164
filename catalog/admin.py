"""The staff's view of the shop: the catalog to curate, and the orders to fulfil."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from catalog.models import Category, Order, OrderLine, Widget


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "path", "parent", "position")
    list_select_related = ("parent",)
    search_fields = ("name", "path")
    prepopulated_fields = {"slug": ("name",)}  # noqa: RUF012
    ordering = ("path",)


@admin.register(Widget)
class WidgetAdmin(admin.ModelAdmin):
    list_display = ("name", "sku", "category", "price", "stock", "is_active", "updated_at")
    list_filter = ("is_active", "category", "colour", "size", "material")
    list_editable = ("price", "stock", "is_active")
    list_select_related = ("category",)
    search_fields = ("name", "sku")
    prepopulated_fields = {"slug": ("name",)}  # noqa: RUF012
    readonly_fields = ("currency", "created_at", "updated_at")
    autocomplete_fields = ("category",)
    show_full_result_count = False  # a COUNT(*) over every widget on each page is wasted


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = ("sku", "name", "unit_price", "quantity", "line_total", "widget")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are what shoppers agreed to: staff move the status on, never rewrite the lines."""

    list_display = ("number", "created_at", "full_name", "email", "total", "status")
    list_filter = ("status", "created_at", "country")
    search_fields = ("number", "email", "full_name", "postcode")
    date_hierarchy = "created_at"
    inlines = (OrderLineInline,)
    readonly_fields = (
        "number",
        "idempotency_key",
        "currency",
        "subtotal",
        "shipping",
        "total",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("number", "status", "created_at", "updated_at", "idempotency_key")}),
        ("Customer", {"fields": ("full_name", "email", "phone")}),
        (
            "Shipping address",
            {"fields": ("address_line1", "address_line2", "city", "postcode", "country")},
        ),
        ("Totals", {"fields": ("currency", "subtotal", "shipping", "total")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
