"""Infrastructure endpoints, mounted at the site root."""

from django.urls import path

from core.health import views as health

urlpatterns = [
    path("livez", health.livez, name="livez"),
]
