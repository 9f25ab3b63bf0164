"""`/metrics`: the Prometheus text format, for the monitoring network only."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

from core.access import internal_only
from core.health import readiness
from core.metrics.sampler import sampler

# A scrape refreshes readiness when nothing has probed it this recently, so the
# "readiness failing" alert has data even where no orchestrator probes /readyz.
READINESS_MAX_AGE = 10.0


@never_cache
@require_GET
@internal_only
def metrics(request: HttpRequest) -> HttpResponse:
    """Freshens this process's gauges, then exports every worker's (django-prometheus)."""
    sampler.ensure_started()
    sampler.sample()
    readiness.latest(READINESS_MAX_AGE)
    return ExportToDjangoView(request)
