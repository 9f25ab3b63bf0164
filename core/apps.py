from django.apps import AppConfig
from django.conf import settings


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "WidgetWorld infrastructure"

    def ready(self) -> None:
        # Importing connects the metrics' signal receivers.
        from core.cache.failsafe import zero_metrics
        from core.metrics import receivers

        receivers.zero_counters(settings.DATABASES)
        zero_metrics(settings.CACHES)
