"""The authenticity app: is an image a registered work, by whom, and is it machine-made?"""

from django.apps import AppConfig


class AuthenticityConfig(AppConfig):
    """Fingerprints of registered works, verifications and their log, the attribution model."""

    name = "authenticity"
    default_auto_field = "django.db.models.BigAutoField"
