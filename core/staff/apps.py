from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "core.staff"
    label = "staff"
    verbose_name = "Staff access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing connects the login and logout receivers.
        from core.staff import sessions  # noqa: F401
