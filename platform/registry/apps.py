"""The registry app: certificates of authorship, mints on the chain, public certificate pages."""

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """Certificates, mints and the chain transactions behind them."""

    name = "registry"
    default_auto_field = "django.db.models.BigAutoField"
