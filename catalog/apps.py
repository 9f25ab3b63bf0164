from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from catalog.caching import degraded, receivers

        degraded.zero_metrics()
        receivers.connect()
