"""The storefront's URLs: readable, stable, and the same shape a shopper would guess."""

from django.urls import path

from catalog import api, openapi, views

app_name = "catalog"

urlpatterns = [
    path("", views.home, name="home"),
    path("widgets/", views.widget_list, name="widgets"),
    path("widgets/<slug:slug>/", views.widget_detail, name="widget"),
    path("widgets/<slug:slug>/image.svg", views.widget_image, name="widget-image"),
    path("c/<path:path>/", views.category, name="category"),
    path("search/", views.search_page, name="search"),
    path("cart/", views.cart_page, name="cart"),
    path("cart/add/", views.cart_add, name="cart-add"),
    path("cart/update/", views.cart_update, name="cart-update"),
    path("cart/remove/", views.cart_remove, name="cart-remove"),
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/done/<str:number>/", views.order_confirmation, name="order-confirmation"),
    path("api/widgets/", api.widgets, name="api-widgets"),
    path("api/widgets/<slug:slug>/", api.widget, name="api-widget"),
    path("api/categories/", api.categories, name="api-categories"),
    path("api/openapi.json", openapi.openapi, name="api-openapi"),
]
