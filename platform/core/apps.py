"""Cross-cutting parts every app uses: jobs and their progress, health, errors, the page shell."""

from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class CoreConfig(AppConfig):
    """Registers the core app and prepares the embedded broker's folders."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Create the filesystem broker's folders: kombu expects them to exist."""
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
        broker_url: str = settings.CELERY_BROKER_URL
        if broker_url.startswith("filesystem://"):
            for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
                Path(options[key]).mkdir(parents=True, exist_ok=True)
