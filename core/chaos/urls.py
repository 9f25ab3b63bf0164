from django.urls import path

from core.chaos import views

urlpatterns = [
    path("query", views.query),
    path("hold", views.hold),
    path("render", views.render),
    path("leak", views.leak),
]
