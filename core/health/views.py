"""Liveness: does this process answer at all?"""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def livez(request: HttpRequest) -> HttpResponse:
    """Never touches the database: a database hiccup must not get every worker restarted."""
    return HttpResponse("ok\n", content_type="text/plain")
