"""The site's URL map: the storefront at the root, the admin (at ADMIN_PATH) for staff, probes."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path(f"{settings.ADMIN_PATH}/", admin.site.urls),
    path("", include("core.urls")),
    path("", include("core.status.urls")),
    path("", include("catalog.urls")),
]

# Also turns a database outage met outside a view (in a middleware) into a 503.
handler500 = "core.http.unavailable.server_error"
