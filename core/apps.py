from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "WidgetWorld infrastructure"

    def ready(self) -> None:
        # Connects the metrics' signal receivers.
        from core.metrics import receivers  # noqa: F401
