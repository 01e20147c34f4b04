"""Market insights: imported auction records, price models with backtests, indices, forecasts."""

from django.apps import AppConfig


class InsightsConfig(AppConfig):
    """Registers the insights app."""

    name = "insights"
    default_auto_field = "django.db.models.BigAutoField"
