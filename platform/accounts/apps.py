"""People, their roles and their API tokens."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Registers the accounts app."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
