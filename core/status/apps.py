from django.apps import AppConfig


class StatusConfig(AppConfig):
    name = "core.status"
    label = "status"
    verbose_name = "Status page"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing connects the receivers that count pool events and keep the
        # published state in step with what staff save in the admin.
        from core.status import receivers  # noqa: F401
