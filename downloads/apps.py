from django.apps import AppConfig


class DownloadsConfig(AppConfig):
    name = "downloads"
    verbose_name = "Protected downloads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from downloads import checks, signals  # noqa: F401  (registers checks and receivers)
