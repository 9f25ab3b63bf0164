"""The staff's view of the shop: the catalog to curate, and the orders to fulfil."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog.models import Category, Order, OrderLine, Widget
from catalog.services.orders import StatusChangeError, change_status


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
    """Orders are what shoppers agreed to: staff move the status on, never rewrite the lines.

    A status change goes through catalog/services/orders.py, never a plain
    save: cancelling returns the stock in the same transaction, exactly once,
    even when two people cancel at the same moment.
    """

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

    actions = ("cancel_orders",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Order, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        fields = [name for name in form.changed_data if name != "status"]
        if fields:
            obj.save(update_fields=[*fields, "updated_at"])
        if "status" in form.changed_data:
            try:
                change_status(obj.pk, form.cleaned_data["status"])
            except StatusChangeError as error:
                self.message_user(request, str(error), messages.ERROR)
            obj.refresh_from_db()

    @admin.action(description="Cancel the selected orders and return their stock")
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        cancelled, refused = 0, []
        for order in queryset:
            try:
                cancelled += change_status(order.pk, Order.Status.CANCELLED)
            except StatusChangeError:
                refused.append(order.number)
        self.message_user(request, f"{cancelled} order(s) cancelled, their stock returned.")
        if refused:
            self.message_user(
                request, "Not cancelled (already shipped): " + ", ".join(refused), messages.WARNING
            )
