"""The artist's studio: portfolios, GAN training runs, trained models and generated works."""

from django.apps import AppConfig


class StudioConfig(AppConfig):
    """Registers the studio app."""

    name = "studio"
    default_auto_field = "django.db.models.BigAutoField"
