"""Admin for the insights records."""

from django.contrib import admin

from insights.models import PriceModel, SalesDataset


@admin.register(SalesDataset)
class SalesDatasetAdmin(admin.ModelAdmin[SalesDataset]):
    """Datasets by owner."""

    list_display = ("name", "owner", "base_currency", "source_name", "created_at")


@admin.register(PriceModel)
class PriceModelAdmin(admin.ModelAdmin[PriceModel]):
    """Fitted models by dataset and state."""

    list_display = ("dataset", "kind", "fitted_until", "state", "created_at")
    list_filter = ("kind", "state")
