"""Infrastructure endpoints, mounted at the site root."""

from django.conf import settings
from django.urls import include, path

from core.health import views as health

urlpatterns = [
    path("livez", health.livez, name="livez"),
]

if settings.CHAOS_ENDPOINTS:
    urlpatterns.append(path("_chaos/", include("core.chaos.urls")))
