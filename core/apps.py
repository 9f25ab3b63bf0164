from django.apps import AppConfig
from django.conf import settings

# Seconds between the sampler's readiness evaluations when nothing probes /readyz.
READINESS_MAX_AGE = 10.0


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "WidgetWorld infrastructure"

    def ready(self) -> None:
        # Importing connects the metrics' signal receivers.
        from core.cache.failsafe import zero_metrics
        from core.db.routing.config import routing_config
        from core.health import readiness
        from core.metrics import receivers
        from core.metrics.sampler import sampler

        receivers.zero_counters(settings.DATABASES)
        receivers.zero_routing_counters(routing_config())
        zero_metrics(settings.CACHES)
        # Readiness gauges stay fresh without a probe; a probe in between is reused.
        sampler.every(READINESS_MAX_AGE, lambda: readiness.latest(READINESS_MAX_AGE))
