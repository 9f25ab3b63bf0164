"""Infrastructure endpoints, mounted at the site root (`/metrics` has a port of its own)."""

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from core.health import views as health
from core.http.security_txt import security_txt

urlpatterns: list[URLPattern | URLResolver] = [
    path("livez", health.livez, name="livez"),
    path("readyz", health.readyz, name="readyz"),
    # For tools that expect the older name.
    path("healthz", health.readyz, name="healthz"),
    path(".well-known/security.txt", security_txt, name="security-txt"),
]

if settings.CHAOS_ENDPOINTS:
    urlpatterns.append(path("_chaos/", include("core.chaos.urls")))
