from django.apps import AppConfig


class DownloadsConfig(AppConfig):
    name = "downloads"
    verbose_name = "Protected downloads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from downloads import checks, signals, token_checks  # noqa: F401  (registers checks and receivers)
        from downloads.access_checks import access_check_compiles  # noqa: F401  (registers it)
        from downloads.conf import app_settings
        from downloads.searchlimit import limit_every_admin_search

        limit_every_admin_search(admin.site)
        # A bad DOWNLOADS_* value stops every process here, gunicorn's workers included (gunicorn
        # runs no system checks), instead of surfacing as a 500 on some later request.
        app_settings()
